/**
 * The Replayer in-process: every example guest recorded (seeded fake devices, real Recorder into an array)
 * and replayed identically; the fault hooks perturbing one input, one output and one memory byte, each caught
 * as the right divergence at the right entry; keep-going collecting several output divergences; a broken call
 * sequence stopping the replay; live WAIT/resume; caps; differential replay of the v2 guests and of a rebuild at
 * another optimisation level; what a digest entry is compared against (digests full, files, off).
 * Seeds are printed with every failure; REPLAY_SEED=N reruns with another base seed.
 */
import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { END_CAP, END_EXIT, END_TRAP, exitCodeBytes } from '../../engine/log/end-marker.ts';
import { singleFault } from '../../replay/fault.ts';
import { decodeDigestPayload, encodeDigestPayload } from '../../engine/log/digest-payload.ts';
import { firstDifference } from '../../replay/report/hexdump.ts';
import { EXAMPLE_GUESTS, GUEST_DIR, scratchDir, type GuestCase } from '../support/guests.ts';
import { ArraySource, recordGuest, replayEntries, withEntry, type Recording } from './support.ts';

const BASE_SEED = Number(process.env.REPLAY_SEED ?? 20240611);
const guest = (name: string): GuestCase => {
  const g = EXAMPLE_GUESTS.find((x) => x.name === name);
  if (!g) throw new Error(`no example guest ${name}`);
  return g;
};
const LINES = guest('c/lines');
const STATE = guest('c/state');
const ECHO = guest('c/echo');
const LINES_V2 = join(GUEST_DIR, 'c/lines-v2.wasm');
const STATE_V2 = join(GUEST_DIR, 'c/state-v2.wasm');
const FILES = guest('c/files');
/** files.c at -O1: behaves as files.wasm, with other memory contents. */
const FILES_O1 = join(GUEST_DIR, 'c/files-o1.wasm');
const TRAP: GuestCase = { name: 'c/trap', path: join(GUEST_DIR, 'c/trap.wasm'), args: [] };

const outputs = (es: readonly LogEntry[]) => es.filter((e) => e.kind === EntryKind.Output && e.channel >= 0);
const inputs = (es: readonly LogEntry[]) => es.filter((e) => e.kind === EntryKind.Input);
const digests = (es: readonly LogEntry[]) => es.filter((e) => e.kind === EntryKind.Digest);

for (const via of ['array', 'trace'] as const)
describe(`Replayer (in-process, entries from ${via === 'array' ? 'an array' : 'a trace read back'})`, function () {
  this.timeout(120_000);
  // The same scenarios on both paths: from a trace, matching inputs are fed from the decoded columns.
  const replay = (guestPath: string, rec: Parameters<typeof replayEntries>[1], opts: Parameters<typeof replayEntries>[2] = {}) => replayEntries(guestPath, rec, { via, ...opts });
  const dirs: string[] = [];
  const dirFor = (g: GuestCase) => {
    if (!g.needsDir) return undefined;
    const d = scratchDir();
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  describe('identical replay', () => {
    for (const [i, g] of [...EXAMPLE_GUESTS, TRAP].entries()) {
      it(`replays ${g.name} identically (with and without digests)`, async () => {
        const seed = BASE_SEED + i;
        const msg = `guest ${g.name}, seed ${seed}`;
        const dir = dirFor(g);
        for (const digestEveryCalls of [0, 3]) {
          const rec = await recordGuest(g, { seed, digestEveryCalls, dir });
          expect(rec.result.status, msg).to.not.equal('paused');
          expect(rec.entries.map((e) => e.seq), msg).to.deep.equal(rec.entries.map((_, k) => k));
          if (digestEveryCalls && rec.callIndex > 3) expect(digests(rec.entries).length, msg).to.be.greaterThan(1);
          const r = await replay(g.path, rec);
          expect(r.outcome, msg).to.deep.include({ status: 'identical', entries: rec.entries.length, callIndex: rec.callIndex });
          expect(r.replayer.divergences, msg).to.deep.equal([]);
          expect(r.source.peek(), msg).to.be.a('symbol');
          expect(r.stdout, msg).to.equal(rec.stdout);
          expect(r.machine.state, msg).to.equal(rec.result.status);
        }
      });
    }

    it('waits where a live log has not arrived yet and continues identically once it has', async () => {
      const seed = BASE_SEED + 100;
      const rec = await recordGuest(guest('c/clockrand'), { seed, digestEveryCalls: 2 });
      const half = rec.entries.length >> 1;
      const source = new ArraySource(rec.entries, half);
      const first = await replay(guest('c/clockrand').path, rec, { source });
      expect(first.outcome.status, `seed ${seed}`).to.equal('waiting');
      expect(first.outcome.entries, `seed ${seed}`).to.equal(half);
      source.available = rec.entries.length;
      const second = first.replayer.finish(first.machine.run(first.replayer));
      expect(second, `seed ${seed}`).to.deep.include({ status: 'identical', entries: rec.entries.length, callIndex: rec.callIndex });
      expect(first.stdout, `seed ${seed}`).to.equal(rec.stdout);
    });

    it('with digests only before logged calls, a live replay runs through pure calls to the first logged one', async () => {
      const seed = BASE_SEED + 102;
      const g = guest('c/compute');
      const rec = await recordGuest(g, { seed });
      // compute makes only pure calls (args) before it computes and prints: its first entry is that print.
      const first = rec.entries[0];
      expect(first.callIndex, `seed ${seed}`).to.be.greaterThan(0);
      const waitAhead = new ArraySource(rec.entries, 0);
      const ahead = await replay(g.path, rec, { source: waitAhead, digestsBeforeLoggedCallsOnly: true });
      expect(ahead.outcome, `seed ${seed}`).to.deep.include({ status: 'waiting', entries: 0 });
      expect(ahead.machine.callIndex, `seed ${seed}: stopped at the first logged call`).to.equal(first.callIndex);
      waitAhead.available = rec.entries.length;
      const rest = ahead.replayer.finish(ahead.machine.run(ahead.replayer));
      expect(rest, `seed ${seed}`).to.deep.include({ status: 'identical', entries: rec.entries.length, callIndex: rec.callIndex });
      expect(ahead.stdout, `seed ${seed}`).to.equal(rec.stdout);
      // Without the rule (a trace, which may digest before any call), the replay waits at the very first call.
      const behind = await replay(g.path, rec, { source: new ArraySource(rec.entries, 0) });
      expect(behind.outcome.status, `seed ${seed}`).to.equal('waiting');
      expect(behind.machine.callIndex, `seed ${seed}`).to.equal(0);
    });

    it('a log that digests before a pure call after all is a divergence, not a silent skip, when replayed ahead', async () => {
      const seed = BASE_SEED + 103;
      const g = guest('c/compute');
      // Our recorder digests at logged calls only; another recorder (or an older one) may have digested before
      // a pure call: such a digest is put first here, at the pure call before the first logged one.
      const plain = await recordGuest(g, { seed });
      const firstLogged = plain.entries[0].callIndex;
      expect(firstLogged, `seed ${seed}: compute starts with pure calls`).to.be.greaterThan(1);
      const withDigest = await recordGuest(g, { seed, digestEveryCalls: 1 });
      const realDigest = withDigest.entries.find((e) => e.kind === EntryKind.Digest)!;
      expect(realDigest.callIndex, `seed ${seed}: the recorder digests at the first logged call`).to.equal(firstLogged);
      const pureDigest: LogEntry = { ...realDigest, seq: 0, callIndex: firstLogged - 1 };
      const rec = { ...plain, entries: [pureDigest, ...plain.entries.map((e) => ({ ...e, seq: e.seq + 1 }))] };
      const source = new ArraySource(rec.entries, 0);
      const r = await replay(g.path, rec, { source, digestsBeforeLoggedCallsOnly: true });
      expect(r.outcome.status, `seed ${seed}`).to.equal('waiting');
      source.available = rec.entries.length;
      const out = r.replayer.finish(r.machine.run(r.replayer));
      expect(out.status, `seed ${seed}`).to.equal('diverged');
      const d = r.replayer.divergences[0];
      expect(d.kind, `seed ${seed}`).to.equal('call-mismatch');
      expect(d.message, `seed ${seed}`).to.match(/state digest at host call \d+, which this run passed/);
    });

    it('stops cleanly at a cap marker and calls the capped replay identical', async () => {
      const seed = BASE_SEED + 101;
      const g = guest('c/hostcalls');
      const rec = await recordGuest(g, { seed, capBytes: 2000 });
      const last = rec.entries[rec.entries.length - 1];
      expect(rec.result.status, `seed ${seed}`).to.equal('paused');
      expect(last.channel, `seed ${seed}`).to.equal(END_CAP);
      const r = await replay(g.path, rec);
      expect(r.outcome, `seed ${seed}`).to.deep.include({ status: 'identical', capped: true, entries: rec.entries.length });
    });
  });

  describe('fault hooks', () => {
    it('a flipped input result reaches the output that echoes it', async () => {
      const seed = BASE_SEED + 200;
      const rec = await recordGuest(ECHO, { seed });
      const read = inputs(rec.entries).find((e) => e.call === 'fd_read' && e.data.length > 0);
      expect(read, `seed ${seed}: echo read nothing`).to.not.equal(undefined);
      const fault = singleFault('input', read!.seq);
      const r = await replay(ECHO.path, rec, { fault });
      expect(fault.fired).to.equal(true);
      expect(r.outcome.status, `seed ${seed}`).to.equal('diverged');
      const d = r.replayer.divergences[0];
      // echo copies stdin through stdio: the first write after the read carries the flipped byte.
      const firstOut = outputs(rec.entries).find((e) => e.seq > read!.seq)!;
      expect(d.kind, `seed ${seed}`).to.equal('output-mismatch');
      expect(d.seq, `seed ${seed}`).to.equal(firstOut.seq);
      expect(d.callIndex, `seed ${seed}`).to.equal(firstOut.callIndex);
      expect(firstDifference(d.expected!.data, d.actual!.data!)).to.equal(0);
      expect(Buffer.from(d.actual!.data!).toString()).to.match(/^GIRST LINE\n/);
    });

    it('a flipped output byte is an output-mismatch at exactly that entry', async () => {
      const seed = BASE_SEED + 201;
      const rec = await recordGuest(LINES, { seed, digestEveryCalls: 2 });
      const target = outputs(rec.entries)[4];
      const fault = singleFault('output', target.seq);
      const r = await replay(LINES.path, rec, { fault });
      expect(fault.fired).to.equal(true);
      expect(r.replayer.divergences, `seed ${seed}`).to.have.length(1);
      const d = r.replayer.divergences[0];
      expect(d).to.deep.include({ kind: 'output-mismatch', seq: target.seq, callIndex: target.callIndex });
      expect(d.expected?.data).to.deep.equal(target.data);
      expect(d.actual?.data?.[0]).to.equal(target.data[0] ^ 1);
      // A divergence stops the replay where it was found.
      expect(r.outcome.entries).to.equal(target.seq + 1);
      expect(r.machine.state).to.equal('paused');
    });

    it('a flipped memory byte is caught by the next digest entry, naming its page', async () => {
      const seed = BASE_SEED + 202;
      const g = guest('c/hostcalls');
      const rec = await recordGuest(g, { seed, digestEveryCalls: 5 });
      const ds = digests(rec.entries);
      const target = ds[Math.floor(ds.length / 2)];
      // Flip at a call strictly between two digests: the next digest must catch it.
      const flipAt = target.callIndex - 2;
      const r0 = await replay(g.path, rec);
      const address = (r0.machine.memoryBytes >> 1) + 123;
      const fault = singleFault('memory', flipAt, address);
      const r = await replay(g.path, rec, { fault });
      expect(fault.fired, `seed ${seed}`).to.equal(true);
      expect(r.outcome.status, `seed ${seed}`).to.equal('diverged');
      const d = r.replayer.divergences[0];
      expect(d, `seed ${seed}`).to.deep.include({ kind: 'digest-mismatch', seq: target.seq, callIndex: target.callIndex });
      expect(d.state?.pages, `seed ${seed}`).to.deep.equal([Math.floor(address / 4096)]);
      expect(d.state?.files).to.deep.equal([]);
      expect(d.state?.devices).to.equal(false);
      expect(d.message).to.match(/1 memory page/);
    });

    it('a memory flip with no periodic digests is still caught by the digest before exit', async () => {
      const seed = BASE_SEED + 203;
      const rec = await recordGuest(LINES, { seed, digestEveryCalls: 0 });
      const ds = digests(rec.entries);
      expect(ds, `seed ${seed}`).to.have.length(1);
      const fault = singleFault('memory', 3);
      const r = await replay(LINES.path, rec, { fault });
      const d = r.replayer.divergences[0];
      expect(d, `seed ${seed}`).to.deep.include({ kind: 'digest-mismatch', seq: ds[0].seq });
      // Every output before it matched.
      expect(r.replayer.divergences).to.have.length(1);
    });
  });

  describe('keep-going and stopping', () => {
    let rec: Recording;
    before(async () => {
      rec = await recordGuest(LINES, { seed: BASE_SEED + 300 });
    });
    const tamper = (seqs: number[], f: (e: LogEntry) => Partial<LogEntry>) => ({
      ...rec,
      entries: rec.entries.map((e) => (seqs.includes(e.seq) ? withEntry(e, f(e)) : e)),
    });
    const changeText = (e: LogEntry) => ({ data: Buffer.from(Buffer.from(e.data).toString().replace(':', '=')) });

    it('collects every output divergence while the calls line up', async () => {
      const outs = outputs(rec.entries);
      const seqs = [outs[1].seq, outs[4].seq, outs[8].seq];
      const t = tamper(seqs, changeText);
      const all = await replay(LINES.path, t, { keepGoing: true });
      expect(all.outcome.status).to.equal('diverged');
      expect(all.replayer.divergences.map((d) => [d.kind, d.seq])).to.deep.equal(seqs.map((s) => ['output-mismatch', s]));
      // It ran to the end: every entry consumed, the exit compared.
      expect(all.outcome.entries).to.equal(rec.entries.length);
      expect(all.machine.state).to.equal('exited');
      const first = await replay(LINES.path, t);
      expect(first.replayer.divergences.map((d) => d.seq)).to.deep.equal([seqs[0]]);
      const bounded = await replay(LINES.path, t, { keepGoing: true, divergencesMax: 2 });
      expect(bounded.replayer.divergences.map((d) => d.seq)).to.deep.equal(seqs.slice(0, 2));
    });

    it('stops at a call-sequence mismatch even when keeping going', async () => {
      const outs = outputs(rec.entries);
      const renamed = outs[2].seq;
      const t = tamper([renamed, outs[6].seq], (e) => (e.seq === renamed ? { call: 'fd_pwrite' } : changeText(e)));
      const r = await replay(LINES.path, t, { keepGoing: true });
      expect(r.replayer.divergences).to.have.length(1);
      expect(r.replayer.divergences[0]).to.deep.include({ kind: 'call-mismatch', seq: renamed, callIndex: outs[2].callIndex });
      expect(r.replayer.divergences[0].message).to.match(/fd_write/).and.match(/fd_pwrite/);
      expect(r.machine.state).to.equal('paused');
    });

    it('an entry logged at a later call index is an extra call, and replay stops', async () => {
      const outs = outputs(rec.entries);
      const moved = outs[3];
      const t = tamper([moved.seq], (e) => ({ callIndex: e.callIndex + 1 }));
      const r = await replay(LINES.path, t, { keepGoing: true });
      expect(r.replayer.divergences).to.have.length(1);
      expect(r.replayer.divergences[0]).to.deep.include({ kind: 'extra-call', seq: moved.seq, callIndex: moved.callIndex });
    });

    it('an input asked with another request shape is a request-mismatch', async () => {
      const seed = BASE_SEED + 301;
      const g = guest('c/clockrand');
      const cr = await recordGuest(g, { seed });
      // The first and the last byte of the request (from a trace the request is compared word by word, and the
      // entries after an odd-sized one sit off word boundaries: the later clock reads cover that case).
      const clocks = inputs(cr.entries).filter((e) => e.call === 'clock_time_get');
      for (const [clock, byte] of [[clocks[0]!, 0], [clocks[0]!, 11], [clocks.at(-1)!, 11], [clocks[clocks.length >> 1]!, 5]] as const) {
        const request = clock.request.slice();
        request[byte] ^= 1;
        const r = await replay(g.path, { ...cr, entries: cr.entries.map((e) => (e === clock ? withEntry(e, { request }) : e)) }, { keepGoing: true });
        const msg = `seed ${seed}, entry ${clock.seq}, request byte ${byte}`;
        expect(r.replayer.divergences, msg).to.have.length(1);
        expect(r.replayer.divergences[0], msg).to.deep.include({ kind: 'request-mismatch', seq: clock.seq, callIndex: clock.callIndex });
        expect(r.replayer.divergences[0].actual?.request, msg).to.deep.equal(clock.request);
      }
    });

    it('a different exit code is an exit-mismatch; a log that ends early is an extra call', async () => {
      const end = rec.entries[rec.entries.length - 1];
      expect(end.channel).to.equal(END_EXIT);
      const exit = await replay(LINES.path, { ...rec, entries: rec.entries.map((e) => (e === end ? withEntry(e, { data: exitCodeBytes(3) }) : e)) });
      expect(exit.replayer.divergences.map((d) => [d.kind, d.seq])).to.deep.equal([['exit-mismatch', end.seq]]);
      expect(exit.replayer.divergences[0].message).to.match(/exited with 0, recorded exit 3/);
      const cut = outputs(rec.entries)[5].seq;
      const short = await replay(LINES.path, { ...rec, entries: rec.entries.slice(0, cut) });
      expect(short.replayer.divergences.map((d) => [d.kind, d.seq])).to.deep.equal([['extra-call', -1]]);
    });

    it("a trap matches a recorded trap of the same kind only: another trap, or a trap where the recording exited, is an exit-mismatch", async () => {
      const trapRec = await recordGuest(TRAP, { seed: 1 });
      const end = trapRec.entries[trapRec.entries.length - 1];
      expect([end.channel, Buffer.from(end.data).toString()]).to.deep.equal([END_TRAP, 'guest trapped: unreachable']);
      const same = await replay(TRAP.path, trapRec);
      expect(same.outcome.status).to.equal('identical');
      const other = await replay(TRAP.path, { ...trapRec, entries: trapRec.entries.map((e) => (e === end ? withEntry(e, { data: Buffer.from('guest trapped: divide by zero') }) : e)) });
      expect(other.replayer.divergences.map((d) => [d.kind, d.seq])).to.deep.equal([['exit-mismatch', end.seq]]);
      expect(other.replayer.divergences[0].message).to.equal('the guest trapped (unreachable); the recording trapped (divide by zero)');
      // A recording that exits there (with its digest before the exit): one divergence, the end, not the digest.
      const digest = { ...end, kind: EntryKind.Digest, call: '', channel: 0, request: new Uint8Array(0), data: new Uint8Array(8) };
      const exited = [...trapRec.entries.slice(0, -1), digest, withEntry(end, { seq: end.seq + 1, call: 'proc_exit', channel: END_EXIT, data: exitCodeBytes(0) })];
      const r = await replay(TRAP.path, { ...trapRec, entries: exited });
      expect(r.replayer.divergences.map((d) => d.kind)).to.deep.equal(['exit-mismatch']);
      expect(r.replayer.divergences[0].message).to.match(/^the guest trapped \(unreachable\); the recording has proc_exit/);
    });

    it('a log that goes on after the run ended is a missing call', async () => {
      const end = rec.entries[rec.entries.length - 1];
      const extra = withEntry(outputs(rec.entries)[0], { seq: end.seq + 1, callIndex: end.callIndex + 1 });
      const r = await replay(LINES.path, { ...rec, entries: [...rec.entries, extra] });
      expect(r.replayer.divergences.map((d) => [d.kind, d.seq])).to.deep.equal([['missing-call', extra.seq]]);
    });

    it('a run that exits where the recording has one more line is a missing call at that line, not an exit-mismatch', async () => {
      const end = rec.entries[rec.entries.length - 1];
      const line = withEntry(outputs(rec.entries)[0], { seq: end.seq, callIndex: end.callIndex });
      const later = withEntry(end, { seq: end.seq + 1, callIndex: end.callIndex + 1 });
      const r = await replay(LINES.path, { ...rec, entries: [...rec.entries.slice(0, -1), line, later] });
      expect(r.replayer.divergences.map((d) => [d.kind, d.seq])).to.deep.equal([['missing-call', line.seq]]);
      expect(r.replayer.divergences[0].message).to.equal(`the guest exited with 0, but the recording goes on with fd_write (output) at host call ${line.callIndex}`);
      expect(r.replayer.divergences[0].actual).to.equal(undefined);
    });
  });

  describe('what a digest entry is compared against (digests: full, files, off)', () => {
    it('full catches a flipped memory byte; files compares the files only; off compares no state, only calls and outputs', async () => {
      const seed = BASE_SEED + 410;
      const rec = await recordGuest(FILES, { seed, digestEveryCalls: 1, dir: dirFor(FILES) });
      const n = digests(rec.entries).length;
      expect(n, `seed ${seed}`).to.be.greaterThan(20);
      const flip = () => singleFault('memory', 20);
      const full = await replay(FILES.path, rec, { fault: flip() });
      expect(full.outcome.status, `seed ${seed}`).to.equal('diverged');
      expect(full.replayer.divergences[0]).to.deep.include({ kind: 'digest-mismatch' });
      expect(full.replayer.divergences[0].state?.pages).to.have.length(1);
      const files = await replay(FILES.path, rec, { fault: flip(), digests: 'files' });
      expect(files.outcome.status, `seed ${seed}`).to.equal('identical');
      expect(files.replayer.digestCounts).to.deep.equal({ compared: n, skipped: 0 });
      const off = await replay(FILES.path, rec, { fault: flip(), digests: 'off' });
      expect(off.outcome.status, `seed ${seed}`).to.equal('identical');
      expect(off.replayer.digestCounts).to.deep.equal({ compared: 0, skipped: n });
      // Off compares no state, but still every call and output: a changed output is caught.
      const out = outputs(rec.entries)[3];
      const changed = rec.entries.map((e) => (e === out ? withEntry(e, { data: Buffer.from('other\n') }) : e));
      const caught = await replay(FILES.path, { ...rec, entries: changed }, { digests: 'off' });
      expect(caught.outcome.status, `seed ${seed}`).to.equal('diverged');
      expect(caught.replayer.divergences[0]).to.deep.include({ kind: 'output-mismatch', seq: out.seq });
    });

    it('files names exactly the file whose recorded content differs', async () => {
      const seed = BASE_SEED + 411;
      const rec = await recordGuest(FILES, { seed, digestEveryCalls: 1, dir: dirFor(FILES) });
      // The first digest that records a file's new content: claim other content for that file.
      const at = digests(rec.entries).find((e) => decodeDigestPayload(e.data).files.some(([, h]) => h !== 0n))!;
      expect(at, `seed ${seed}`).to.not.equal(undefined);
      const p = decodeDigestPayload(at.data);
      const [path] = p.files.find(([, h]) => h !== 0n)!;
      const tampered = encodeDigestPayload({ ...p, files: p.files.map(([f, h]) => [f, f === path ? h ^ 1n : h] as const) });
      const entries = rec.entries.map((e) => (e === at ? withEntry(e, { data: tampered }) : e));
      const r = await replay(FILES.path, { ...rec, entries }, { digests: 'files' });
      expect(r.outcome.status, `seed ${seed}`).to.equal('diverged');
      const d = r.replayer.divergences[0];
      expect(d).to.deep.include({ kind: 'digest-mismatch', seq: at.seq });
      expect(d.state).to.deep.equal({ pages: [], files: [path], devices: false });
      expect(d.message).to.match(/file contents differ at host call \d+: 1 file\(s\) \(memory and device state not compared\)/);
      expect((await replay(FILES.path, { ...rec, entries }, { digests: 'off' })).outcome.status).to.equal('identical');
    });

    it('files skips a digest entry that carries the root only (and counts it), which full still compares', async () => {
      const seed = BASE_SEED + 412;
      const rec = await recordGuest(FILES, { seed, digestEveryCalls: 7, dir: dirFor(FILES) });
      const n = digests(rec.entries).length;
      const rootOnly = rec.entries.map((e) => {
        if (e.kind !== EntryKind.Digest) return e;
        const root = Buffer.alloc(8);
        root.writeBigUInt64LE(decodeDigestPayload(e.data).root);
        return withEntry(e, { data: root });
      });
      const files = await replay(FILES.path, { ...rec, entries: rootOnly }, { digests: 'files' });
      expect(files.outcome.status, `seed ${seed}`).to.equal('identical');
      expect(files.replayer.digestCounts).to.deep.equal({ compared: 0, skipped: n });
      const full = await replay(FILES.path, { ...rec, entries: rootOnly });
      expect(full.outcome.status, `seed ${seed}`).to.equal('identical');
      expect(full.replayer.digestCounts).to.deep.equal({ compared: n, skipped: 0 });
    });
  });

  describe('differential replay (v2 builds)', () => {
    it('lines-v2 diverges at entry #6 (the 7th line), host call 7', async () => {
      const rec = await recordGuest(LINES, { seed: BASE_SEED + 400 });
      const r = await replay(LINES_V2, rec);
      const d = r.replayer.divergences[0];
      expect(d).to.deep.include({ kind: 'output-mismatch', seq: 6, callIndex: 7 });
      expect(Buffer.from(d.expected!.data).toString()).to.equal('line 7: 49\n');
      expect(Buffer.from(d.actual!.data!).toString()).to.equal('line 7: 1049\n');
    });

    it('state-v2 is caught by a digest before any output differs', async () => {
      const seed = BASE_SEED + 401;
      const rec = await recordGuest(STATE, { seed, digestEveryCalls: 1 });
      const r = await replay(STATE_V2, rec, { keepGoing: true });
      expect(r.outcome.status, `seed ${seed}`).to.equal('diverged');
      const ds = r.replayer.divergences;
      expect(ds[0].kind, `seed ${seed}`).to.equal('digest-mismatch');
      expect(ds[0].state?.pages.length).to.be.greaterThan(0);
      // The outputs agree: every divergence is a state digest.
      expect(ds.every((d) => d.kind === 'digest-mismatch'), ds.map((d) => d.kind).join(',')).to.equal(true);
      const firstOutput = outputs(rec.entries)[0];
      expect(ds[0].seq).to.be.lessThan(firstOutput.seq);
    });

    it('a rebuild at another optimisation level diverges at the first digest under full, and replays identically under files', async () => {
      const seed = BASE_SEED + 402;
      const rec = await recordGuest(FILES, { seed, digestEveryCalls: 1, dir: dirFor(FILES) });
      const full = await replay(FILES_O1, rec);
      expect(full.outcome.status, `seed ${seed}`).to.equal('diverged');
      const d = full.replayer.divergences[0];
      expect(d.kind).to.equal('digest-mismatch');
      expect(d.seq, 'the first digest').to.equal(digests(rec.entries)[0].seq);
      expect(d.state?.files, 'the files agree').to.deep.equal([]);
      const files = await replay(FILES_O1, rec, { digests: 'files' });
      expect(files.outcome.status, `seed ${seed}`).to.equal('identical');
      expect(files.replayer.digestCounts.compared).to.equal(digests(rec.entries).length);
      expect(files.stdout).to.equal(rec.stdout);
    });
  });
});

describe('Replayer: an array of entries and a trace of the same entries replay alike', function () {
  this.timeout(120_000);
  it('gives the same outcome, divergences and report context on both paths', async () => {
    const seed = BASE_SEED + 500;
    const lines = await recordGuest(LINES, { seed });
    const clockrand = await recordGuest(guest('c/clockrand'), { seed, digestEveryCalls: 3 });
    const clock = inputs(clockrand.entries).filter((e) => e.call === 'clock_time_get')[2]!;
    const request = clock.request.slice();
    request[4] ^= 1;
    const outs = outputs(lines.entries);
    const cases: Array<[string, string, Pick<Recording, 'entries' | 'config'>, { keepGoing?: boolean }]> = [
      ['lines-v2 against lines', LINES_V2, lines, {}],
      ['lines-v2 against lines, keep going', LINES_V2, lines, { keepGoing: true }],
      ['a changed clock request', guest('c/clockrand').path, { ...clockrand, entries: clockrand.entries.map((e) => (e === clock ? withEntry(e, { request }) : e)) }, { keepGoing: true }],
      ['three changed lines, keep going', LINES.path, { ...lines, entries: lines.entries.map((e) => (e === outs[2] || e === outs[5] || e === outs[9] ? withEntry(e, { data: Buffer.from('other\n') }) : e)) }, { keepGoing: true }],
    ];
    for (const [what, path, rec, opts] of cases) {
      const a = await replayEntries(path, rec, { ...opts, via: 'array' });
      const t = await replayEntries(path, rec, { ...opts, via: 'trace' });
      expect(a.outcome.status, `${what} (seed ${seed})`).to.equal('diverged');
      expect(JSON.parse(JSON.stringify(t.outcome, plain)), `${what} (seed ${seed})`).to.deep.equal(JSON.parse(JSON.stringify(a.outcome, plain)));
    }
  });
});

/** JSON of an outcome with byte arrays as plain lists (a Buffer reaches a replacer as its toJSON form). */
function plain(_key: string, v: unknown): unknown {
  if (v instanceof Uint8Array) return Array.from(v);
  const b = v as { type?: unknown; data?: unknown } | null;
  return b !== null && typeof b === 'object' && b.type === 'Buffer' && Array.isArray(b.data) ? b.data : v;
}
