/**
 * A machine that is not WebAssembly: a tiny register machine interpreted in TypeScript, implementing
 * `Machine` (engine/machine/machine.ts) from scratch. It is the reference for plugging another machine into
 * twinstep (docs/ARCHITECTURE.md, "Plugging in another machine"): the recorder, the trace format and the replayer
 * drive it unchanged (spec/machine/pluggable.spec.ts).
 *
 * State: a program counter, four 32-bit registers and two 4 KiB pages of memory. Its host calls:
 *   - `clock_read`  (input): 8 bytes of a clock, request = the clock id (1 byte);
 *   - `random_fill` (input): LEN random bytes into memory at ADDR, request = LEN (u32 LE);
 *   - `print`       (output, channel 1): a line made from a register;
 *   - `page_count`  (pure): how many pages the memory has (the result follows from the state).
 * Everything else (arithmetic, stores, loops) is computation between host calls.
 */
import { xxh64 } from '@node-rs/xxhash';
import { GuestTrap, PAGE_BYTES, PAUSE, type HostCallHandler, type HostCallInfo, type InputCall, type Machine, type MachineSnapshot, type OutputCall, type RunResult, type StateDigest } from '../../engine/machine/machine.ts';
import { pageDigests } from '../../engine/checkpoint/digest.ts';
import { seededRandom } from './seeded-random.ts';

export type ToyOp =
  | { readonly op: 'clock'; readonly reg: number; readonly clockId: number }
  | { readonly op: 'random'; readonly addr: number; readonly len: number }
  /** reg = fnv1a(memory[addr, addr + len)) ^ reg */
  | { readonly op: 'mix'; readonly reg: number; readonly addr: number; readonly len: number }
  /** memory[addr, addr + 4) = reg (little endian) */
  | { readonly op: 'store'; readonly reg: number; readonly addr: number }
  | { readonly op: 'add'; readonly reg: number; readonly value: number }
  | { readonly op: 'print'; readonly label: string; readonly reg: number }
  /** The same line as print, in two output calls (the label, then the value). */
  | { readonly op: 'printParts'; readonly label: string; readonly reg: number }
  | { readonly op: 'pages'; readonly reg: number }
  /** Decrements the counter at memory[counterAddr] and jumps to `to` while it was above zero. */
  | { readonly op: 'loop'; readonly counterAddr: number; readonly to: number }
  /** Exits with the low byte of the register (no host call: as a Wasm guest returning from _start). */
  | { readonly op: 'halt'; readonly reg: number };

/** Where a live toy machine's inputs come from. */
export interface ToyDevices {
  clock(id: number): bigint;
  random(len: number): Uint8Array;
}

/** A replaying machine never reads a device: the handler gives every input from the log. */
export const NO_DEVICES: ToyDevices = {
  clock: () => {
    throw new Error('toy machine: a replay read the clock');
  },
  random: () => {
    throw new Error('toy machine: a replay read entropy');
  },
};

/** Live devices for tests: a clock that advances by 1-1000 ns per read and random bytes, both from `seed`. */
export function seededToyDevices(seed: number): ToyDevices {
  const rnd = seededRandom(seed);
  let t = 1_000_000n;
  return {
    clock: () => (t += BigInt(1 + Math.floor(rnd() * 1000))),
    random: (len) => Uint8Array.from({ length: len }, () => Math.floor(rnd() * 256)),
  };
}

const MEMORY_BYTES = 2 * PAGE_BYTES;

interface ToyState {
  pc: number;
  /** Within an op that makes several host calls (printParts): how many it made. */
  part: number;
  callIndex: number;
  regs: number[];
  memory: Uint8Array;
  state: Machine['state'];
}

export class ToyMachine implements Machine {
  private s: ToyState;

  constructor(
    private readonly program: readonly ToyOp[],
    private readonly devices: ToyDevices,
    from?: ToyState,
  ) {
    this.s = from ?? { pc: 0, part: 0, callIndex: 0, regs: [0, 0, 0, 0], memory: new Uint8Array(MEMORY_BYTES), state: 'ready' };
  }

  /** A machine that continues from `snapshot` (made by `snapshot().encode()`, in any process). */
  static restore(program: readonly ToyOp[], devices: ToyDevices, snapshot: Uint8Array): ToyMachine {
    const j = JSON.parse(Buffer.from(snapshot).toString('utf8')) as Omit<ToyState, 'memory'> & { memory: string };
    return new ToyMachine(program, devices, { ...j, regs: [...j.regs], memory: new Uint8Array(Buffer.from(j.memory, 'base64')) });
  }

  get callIndex(): number {
    return this.s.callIndex;
  }

  get state(): Machine['state'] {
    return this.s.state;
  }

  run(handler: HostCallHandler): RunResult {
    if (this.s.state === 'exited' || this.s.state === 'trapped') throw new Error(`toy machine: run() after the guest ${this.s.state}`);
    const s = this.s;
    const mem = new DataView(s.memory.buffer);
    for (;;) {
      const op = this.program[s.pc];
      if (op === undefined) {
        s.state = 'trapped';
        return { status: 'trapped', error: new GuestTrap(`pc ${s.pc} is outside the program`, 'trap', s.callIndex) };
      }
      switch (op.op) {
        case 'clock': {
          const call = inputCall(s.callIndex, 'clock_read', Uint8Array.of(op.clockId), () => u64le(this.devices.clock(op.clockId)));
          const r = this.hostInput(handler, call);
          if (r === PAUSE) return this.pause();
          s.regs[op.reg] = Number(Buffer.from(r).readBigUInt64LE(0) & 0xffffffffn);
          break;
        }
        case 'random': {
          const req = new Uint8Array(4);
          new DataView(req.buffer).setUint32(0, op.len, true);
          const call = inputCall(s.callIndex, 'random_fill', req, () => this.devices.random(op.len));
          const r = this.hostInput(handler, call);
          if (r === PAUSE) return this.pause();
          if (r.length !== op.len) throw new Error(`random_fill: ${r.length} bytes for a request of ${op.len}`);
          s.memory.set(r, op.addr);
          break;
        }
        case 'print': {
          if (handler.beforeCall?.(info(s.callIndex, 'print')) === PAUSE) return this.pause();
          const call: OutputCall = { index: s.callIndex, name: 'print', channel: 1, data: Buffer.from(`${op.label} ${s.regs[op.reg] >>> 0}\n`) };
          if (handler.output(call) === PAUSE) return this.pause();
          s.callIndex++;
          break;
        }
        case 'printParts': {
          const parts = [`${op.label} `, `${s.regs[op.reg]! >>> 0}\n`];
          // A part already written before a pause is not written again (s.part remembers).
          for (; s.part < parts.length; s.part++) {
            if (handler.beforeCall?.(info(s.callIndex, 'print')) === PAUSE) return this.pause();
            if (handler.output({ index: s.callIndex, name: 'print', channel: 1, data: Buffer.from(parts[s.part]!) }) === PAUSE) return this.pause();
            s.callIndex++;
          }
          s.part = 0;
          break;
        }
        case 'pages': {
          const call = info(s.callIndex, 'page_count');
          if (handler.beforeCall?.(call) === PAUSE) return this.pause();
          s.regs[op.reg] = s.memory.length / PAGE_BYTES;
          handler.pure?.(call);
          s.callIndex++;
          break;
        }
        case 'mix': {
          let h = 0x811c9dc5 ^ s.regs[op.reg]!;
          for (let i = op.addr; i < op.addr + op.len; i++) h = Math.imul(h ^ s.memory[i]!, 0x01000193);
          s.regs[op.reg] = h >>> 0;
          break;
        }
        case 'store':
          mem.setUint32(op.addr, s.regs[op.reg]! >>> 0, true);
          break;
        case 'add':
          s.regs[op.reg] = (s.regs[op.reg]! + op.value) >>> 0;
          break;
        case 'loop': {
          const n = mem.getUint32(op.counterAddr, true);
          if (n > 0) {
            mem.setUint32(op.counterAddr, n - 1, true);
            s.pc = op.to;
            continue;
          }
          break;
        }
        case 'halt':
          s.state = 'exited';
          return { status: 'exited', code: s.regs[op.reg]! & 0xff };
      }
      s.pc++;
    }
  }

  /** beforeCall, then input; the call index advances only once the result is in. */
  private hostInput(handler: HostCallHandler, call: InputCall): Uint8Array | typeof PAUSE {
    if (handler.beforeCall?.(call) === PAUSE) return PAUSE;
    const r = handler.input(call);
    if (r === PAUSE) return PAUSE;
    this.s.callIndex++;
    // The machine copies what input() returned at once (the handler may refill its array).
    return r.slice();
  }

  private pause(): RunResult {
    this.s.state = 'paused';
    return { status: 'paused', index: this.s.callIndex };
  }

  snapshot(): MachineSnapshot {
    if (this.s.state === 'trapped') throw new Error('toy machine: no snapshot of a trapped guest');
    const bytes = Buffer.from(JSON.stringify({ ...this.s, memory: Buffer.from(this.s.memory).toString('base64') }));
    const pages = pageDigests(this.s.memory);
    return { callIndex: this.s.callIndex, encode: () => bytes, pageDigests: pages };
  }

  digest(): StateDigest {
    const pages = pageDigests(this.s.memory);
    const devices = xxh64(Buffer.from(JSON.stringify({ pc: this.s.pc, regs: this.s.regs })));
    const root = Buffer.alloc(pages.byteLength + 8);
    root.set(new Uint8Array(pages.buffer, pages.byteOffset, pages.byteLength));
    root.writeBigUInt64LE(devices, pages.byteLength);
    return { root: xxh64(root), pages, devices, files: new Map() };
  }

  pagesChangedSince(base: BigUint64Array): number[] {
    const now = pageDigests(this.s.memory);
    const out: number[] = [];
    for (let i = 0; i < now.length; i++) if (i >= base.length || now[i] !== base[i]) out.push(i);
    return out;
  }

  memoryView(): Uint8Array {
    return this.s.memory;
  }
}

function info(index: number, name: string): HostCallInfo {
  return { index, name };
}

function inputCall(index: number, name: string, request: Uint8Array, live: () => Uint8Array): InputCall {
  return { index, name, request, live };
}

function u64le(v: bigint): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  return b;
}
