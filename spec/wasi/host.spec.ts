import { expect } from 'chai';
import { ExitSignal, PauseSignal } from '../../engine/wasi/context.ts';
import { EXIT_CHANNEL } from '../../engine/machine/machine.ts';
import { WASI_CALLS } from '../../engine/wasi/calls.ts';
import { Errno } from '../../engine/wasi/errno.ts';
import { OFlag } from '../../engine/wasi/abi.ts';
import { fakeDevices } from '../support/fake-devices.ts';
import { makeTree, probeOver, ROOT_FD } from './fixtures.ts';
import { RecordingContext, runWasi, type Probe } from './harness.ts';
import { wat } from '../support/wat.ts';

/** Reads the clock, copies a.txt from the preopen to stdout, exits 7. */
const CAT_WAT = `
(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "a.txt")
  (func (export "_start")
    (if (call $clock (i32.const 0) (i64.const 1) (i32.const 200)) (then unreachable))
    (if (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 300)) (then unreachable))
    (i32.store (i32.const 400) (i32.const 500))
    (i32.store (i32.const 404) (i32.const 64))
    (if (call $read (i32.load (i32.const 300)) (i32.const 400) (i32.const 1) (i32.const 408)) (then unreachable))
    (i32.store (i32.const 404) (i32.load (i32.const 408)))
    (if (call $write (i32.const 1) (i32.const 400) (i32.const 1) (i32.const 412)) (then unreachable))
    (call $exit (i32.const 7))))`;

/** A RecordingContext whose input calls return canned bytes instead of live(). */
class CannedContext extends RecordingContext {
  constructor(private readonly canned: Uint8Array) {
    super();
  }
  override input(name: string, request: Uint8Array, _live: () => Uint8Array): Uint8Array {
    return super.input(name, request, () => this.canned);
  }
}

function le32(v: number): number[] {
  return [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
}

describe('WasiHost', () => {
  let tree: ReturnType<typeof makeTree>;
  let p: Probe;
  beforeEach(async () => {
    tree = makeTree();
    p = await probeOver(tree.dir, { stdin: new TextEncoder().encode('input!') });
  });
  afterEach(() => tree.cleanup());

  it('runs a whole guest: the context sees exactly its input and output calls', async () => {
    const r = await runWasi(await wat(CAT_WAT), { preopens: [{ host: tree.dir, guest: '/' }], devices: fakeDevices(5) });
    expect(r.exitCode).to.equal(7);
    expect(r.stdout).to.equal('alpha');
    expect(r.ctx.calls.map((c) => `${c.kind}:${c.name}`)).to.deep.equal(['input:clock_time_get', 'output:fd_write', 'output:proc_exit']);
  });

  it('provides every wasi_snapshot_preview1 function', () => {
    expect(Object.keys(p.host.imports()).sort()).to.deep.equal([...WASI_CALLS].sort());
  });

  it('serves args, environment and preopens purely', () => {
    const n = p.alloc(4);
    const sz = p.alloc(4);
    expect(p.call('args_sizes_get', n, sz)).to.equal(Errno.SUCCESS);
    expect([p.u32(n), p.u32(sz)]).to.deep.equal([2, 'guest\0x\0'.length]);
    expect(p.call('environ_sizes_get', n, sz)).to.equal(Errno.SUCCESS);
    expect([p.u32(n), p.u32(sz)]).to.deep.equal([1, 4]);
    const pre = p.alloc(8);
    expect(p.call('fd_prestat_get', ROOT_FD, pre)).to.equal(Errno.SUCCESS);
    expect(p.u32(pre + 4)).to.equal(1);
    expect(p.call('fd_prestat_get', ROOT_FD + 1, pre)).to.equal(Errno.BADF);
    expect(p.call('fd_prestat_get', 1, pre)).to.equal(Errno.BADF);
    expect(p.ctx.calls).to.deep.equal([]);
  });

  describe('call classification', () => {
    it('logs clock_time_get as input with id and precision as the request', () => {
      const out = p.alloc(8);
      expect(p.call('clock_time_get', 1, 77n, out)).to.equal(Errno.SUCCESS);
      const [c] = p.ctx.calls;
      expect(c.kind).to.equal('input');
      expect(c.name).to.equal('clock_time_get');
      expect([...c.bytes]).to.deep.equal([1, 0, 0, 0, 77, 0, 0, 0, 0, 0, 0, 0]);
      expect(p.u64(out)).to.equal(new DataView(c.result!.buffer).getBigUint64(0, true));
    });

    it('logs random_get, stdin reads, poll_oneoff and sched_yield as input; files stay pure', () => {
      const buf = p.alloc(16);
      expect(p.call('random_get', buf, 16)).to.equal(Errno.SUCCESS);
      expect(new TextDecoder().decode(p.read(0, 4)[1])).to.equal('inpu');
      expect(p.call('sched_yield')).to.equal(Errno.SUCCESS);
      const [, fd] = p.open(ROOT_FD, 'a.txt');
      p.read(fd, 100);
      p.write(fd, 'more');
      const names = p.ctx.calls.map((c) => `${c.kind}:${c.name}:${[...c.bytes].join(',')}`);
      expect(names).to.deep.equal([`input:random_get:${le32(16)}`, `input:fd_read:${le32(4)}`, 'input:sched_yield:']);
      expect(p.bytes.slice(buf, buf + 16)).to.deep.equal(p.ctx.calls[0].result);
    });

    it('sends stdout/stderr writes as output by channel and reports full success', () => {
      expect(p.write(1, 'hello')).to.deep.equal([Errno.SUCCESS, 5]);
      expect(p.write(2, 'err')).to.deep.equal([Errno.SUCCESS, 3]);
      expect(p.ctx.calls.map((c) => [c.kind, c.name, c.channel, new TextDecoder().decode(c.bytes)])).to.deep.equal([
        ['output', 'fd_write', 1, 'hello'],
        ['output', 'fd_write', 2, 'err'],
      ]);
      // Renumbered stdout still goes out on channel 1.
      const [, fd] = p.open(ROOT_FD, 'a.txt');
      expect(p.call('fd_renumber', 1, fd)).to.equal(Errno.SUCCESS);
      p.write(fd, 'again');
      expect(p.ctx.calls[2].channel).to.equal(1);
      expect(p.write(1, 'x')[0]).to.equal(Errno.BADF);
    });

    it('turns proc_exit into an output on EXIT_CHANNEL and an ExitSignal', () => {
      expect(() => p.call('proc_exit', 3)).to.throw(ExitSignal);
      expect(p.ctx.calls).to.have.length(1);
      expect(p.ctx.calls[0]).to.include({ kind: 'output', name: 'proc_exit', channel: EXIT_CHANNEL });
      expect([...p.ctx.calls[0].bytes]).to.deep.equal([3, 0, 0, 0]);
    });

    it('returns pure errors before reaching the context', () => {
      expect(p.call('clock_time_get', 9, 0n, p.alloc(8))).to.equal(Errno.INVAL);
      expect(p.call('clock_time_get', 0, 0n, 0xffff_fff0)).to.equal(Errno.FAULT);
      expect(p.call('random_get', 0x3ffff, 16)).to.equal(Errno.FAULT);
      expect(p.call('fd_read', 77, p.iov(4), 1, p.alloc(4))).to.equal(Errno.BADF);
      expect(p.call('fd_write', 1, 0xffff_fff0, 1, p.alloc(4))).to.equal(Errno.FAULT);
      expect(p.call('poll_oneoff', p.alloc(48), p.alloc(32), 0, p.alloc(4))).to.equal(Errno.INVAL);
      expect(p.ctx.calls).to.deep.equal([]);
    });
  });

  describe('pause rule: no side effect before ctx.input/ctx.output', () => {
    const cases: Array<[string, (p: Probe) => number]> = [
      ['clock_time_get', (p) => p.call('clock_time_get', 0, 0n, 2048)],
      ['random_get', (p) => p.call('random_get', 2048, 32)],
      ['fd_read stdin', (p) => p.call('fd_read', 0, 3000, 1, 3008)],
      ['fd_write stdout', (p) => p.call('fd_write', 1, 3000, 1, 3008)],
      ['fd_pwrite stderr', (p) => p.call('fd_pwrite', 2, 3000, 1, 0n, 3008)],
      ['poll_oneoff', (p) => p.call('poll_oneoff', 4000, 4200, 1, 3008)],
      ['sched_yield', (p) => p.call('sched_yield')],
      ['proc_exit', (p) => p.call('proc_exit', 1)],
    ];
    for (const [label, run] of cases) {
      it(`${label}: a paused call leaves memory and state untouched, and the retry succeeds`, () => {
        // iovec at 3000 -> 16 bytes at 3100; a relative clock subscription at 4000.
        p.view.setUint32(3000, 3100, true);
        p.view.setUint32(3004, 16, true);
        p.view.setUint8(4008, 0);
        p.view.setBigUint64(4024, 1000n, true);
        const mem = p.bytes.slice();
        const state = p.host.exportState();
        p.ctx.pauseNext = true;
        expect(() => run(p)).to.throw(PauseSignal);
        expect(p.ctx.pauses).to.equal(1);
        expect(p.bytes.slice()).to.deep.equal(mem);
        expect(p.host.exportState()).to.deep.equal(state);
        expect(p.ctx.calls).to.deep.equal([]);
        if (label === 'proc_exit') expect(() => run(p)).to.throw(ExitSignal);
        else expect(run(p)).to.equal(Errno.SUCCESS);
        expect(p.ctx.calls).to.have.length(1);
      });
    }
  });

  describe('malformed logged results', () => {
    const cases: Array<[string, Uint8Array, (p: Probe) => number]> = [
      ['clock_time_get', new Uint8Array(7), (p) => p.call('clock_time_get', 0, 0n, 2048)],
      ['random_get', new Uint8Array(3), (p) => p.call('random_get', 2048, 4)],
      ['fd_read', new Uint8Array(40), (p) => p.call('fd_read', 0, p.iov(8), 1, 3008)],
      ['poll_oneoff', new Uint8Array(33), (p) => p.call('poll_oneoff', 4000, 4200, 1, 3008)],
      ['sched_yield', new Uint8Array(1), (p) => p.call('sched_yield')],
    ];
    for (const [name, canned, run] of cases) {
      it(`${name}: throws instead of corrupting the guest`, async () => {
        const q = await probeOver(tree.dir, { ctx: new CannedContext(canned) });
        const before = q.bytes.slice(2048, 2100);
        expect(() => run(q)).to.throw(Error, new RegExp(`malformed ${name}`));
        expect(q.bytes.slice(2048, 2100)).to.deep.equal(before);
      });
    }
  });

  describe('poll_oneoff', () => {
    function sub(at: number, userdata: bigint, tag: number, fdOrClock: number, timeout = 0n, flags = 0): void {
      p.view.setBigUint64(at, userdata, true);
      p.view.setUint8(at + 8, tag);
      p.view.setUint32(at + 16, fdOrClock, true);
      p.view.setBigUint64(at + 24, timeout, true);
      p.view.setUint16(at + 40, flags, true);
    }

    it('reports ready descriptors at once, with bytes available for files', () => {
      const [, fd] = p.open(ROOT_FD, 'a.txt');
      const subs = p.alloc(48 * 3);
      sub(subs, 1n, 1, fd);
      sub(subs + 48, 2n, 2, 1);
      sub(subs + 96, 3n, 0, 1, 10_000_000_000n);
      const out = p.alloc(32 * 3);
      const n = p.alloc(4);
      expect(p.call('poll_oneoff', subs, out, 3, n)).to.equal(Errno.SUCCESS);
      expect(p.u32(n)).to.equal(2);
      expect([p.u64(out), p.u64(out + 16)]).to.deep.equal([1n, 5n]);
      expect(p.u64(out + 32)).to.equal(2n);
    });

    it('sleeps through the devices until the earliest clock (only when live)', async () => {
      const slept: bigint[] = [];
      const dev = { ...fakeDevices(3), sleepNs: (ns: bigint) => void slept.push(ns) };
      const q = await probeOver(tree.dir, { devices: dev });
      p = q;
      const subs = q.alloc(96);
      sub(subs, 7n, 0, 1, 5_000n);
      sub(subs + 48, 8n, 0, 1, 9_000n);
      const out = q.alloc(64);
      const n = q.alloc(4);
      expect(q.call('poll_oneoff', subs, out, 2, n)).to.equal(Errno.SUCCESS);
      expect(slept).to.deep.equal([5_000n]);
      expect(q.u32(n)).to.equal(1);
      expect(q.u64(out)).to.equal(7n);
      // The logged request is the subscriptions exactly as passed.
      expect(q.ctx.calls[0].bytes).to.deep.equal(q.bytes.slice(subs, subs + 96));
    });

    it('reports a bad descriptor as an event error', () => {
      const subs = p.alloc(48);
      sub(subs, 9n, 1, 99);
      const out = p.alloc(32);
      const n = p.alloc(4);
      expect(p.call('poll_oneoff', subs, out, 1, n)).to.equal(Errno.SUCCESS);
      expect(p.view.getUint16(out + 8, true)).to.equal(Errno.BADF);
    });
  });

  it('answers sockets and signals with errors', () => {
    expect(p.call('sock_shutdown', 99, 0)).to.equal(Errno.BADF);
    expect(p.call('sock_shutdown', 1, 0)).to.equal(Errno.NOTSOCK);
    expect(p.call('sock_accept', ROOT_FD, 0, p.alloc(4))).to.equal(Errno.NOTSOCK);
    expect(p.call('proc_raise', 9)).to.equal(Errno.NOSYS);
  });

  it('creates files only inside the VM and keeps fd numbers lowest-free', () => {
    const [, a] = p.open(ROOT_FD, 'n1', { oflags: OFlag.CREAT });
    const [, b] = p.open(ROOT_FD, 'n2', { oflags: OFlag.CREAT });
    expect([a, b]).to.deep.equal([4, 5]);
    p.call('fd_close', a);
    expect(p.open(ROOT_FD, 'n2')[1]).to.equal(4);
  });
});
