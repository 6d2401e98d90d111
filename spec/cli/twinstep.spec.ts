/**
 * The real `twinstep` CLI, spawned: record → replay identical for every example guest; differential replay
 * of the v2 builds (output and digest divergences, JSON reports) and of a rebuild at another optimisation level
 * (--digests full, files, off), and of a build that splits its writes (--match stream); several traces in one replay (exit codes, combined reports); the --fault hooks; damaged traces (flipped
 * byte, torn tails at several cut points, wrong magic, a future format version) → exit 2 and never a
 * divergence; a recorder killed with SIGKILL at seeded random moments, and one interrupted (SIGINT, SIGTERM); caps; record from a snapshot; inspect;
 * usage errors. Seeds are printed with every failure; CLI_SEED=N reruns with another base seed.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLE_GUESTS, GUEST_DIR, scratchDir } from '../support/guests.ts';
import { Cli, ROOT, TWINSTEP, pool, rng, show, type CliResult } from './support.ts';
import { TraceReader } from '../../engine/log/trace-reader.ts';
import { traceFormatVersion } from '../../engine/log/version.ts';
import { findAll, parseXml } from '../replay/xml.ts';

const BASE_SEED = Number(process.env.CLI_SEED ?? 7_301);
const cli = new Cli();
const work = mkdtempSync(join(tmpdir(), 'twinstep-cli-'));
const at = (name: string) => join(work, name);
const wasm = (p: string) => join(GUEST_DIR, p);
const LINES = wasm('c/lines.wasm');
const LINES_V2 = wasm('c/lines-v2.wasm');
const STATE = wasm('c/state.wasm');
const STATE_V2 = wasm('c/state-v2.wasm');
const FILES = wasm('c/files.wasm');
const FILES_O1 = wasm('c/files-o1.wasm');
const LINES_SPLIT = wasm('c/lines-split.wasm');
const LINES_HANG = wasm('c/lines-hang.wasm');
const HOSTCALLS = wasm('c/hostcalls.wasm');
const TICKER = wasm('c/ticker.wasm');
const ECHO = wasm('c/echo.wasm');

/** Expectations every damaged-trace replay must meet: exit 2, a message saying why, never a divergence. */
function expectUnusable(r: CliResult, message: RegExp, what: string): void {
  const ctx = `${what}\n${show(r)}`;
  expect(r.code, ctx).to.equal(2);
  expect(r.stderr, ctx).to.match(message);
  expect(r.stdout + r.stderr, ctx).to.not.match(/DIVERGED|divergence/i);
  expect(r.stderr, ctx).to.not.match(/internal error/);
}

const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const SECRET = at('secret');
writeFileSync(SECRET, 'a shared secret of at least 16 bytes');

describe('twinstep CLI (spawned)', function () {
  this.timeout(180_000);
  const dirs: string[] = [];

  before(async () => {
    await cli.warm([...EXAMPLE_GUESTS.map((g) => g.path), LINES_V2, STATE_V2, FILES_O1, LINES_SPLIT, LINES_HANG]);
  });
  after(() => {
    for (const d of [work, cli.cache, ...dirs]) rmSync(d, { recursive: true, force: true });
  });

  describe('record → replay', () => {
    it('replays every example guest identically (exit 0)', async () => {
      await pool(EXAMPLE_GUESTS, 3, async (g, i) => {
        const trace = at(`guest-${i}.twt`);
        const dirArgs: string[] = [];
        if (g.needsDir) {
          const d = scratchDir();
          dirs.push(d);
          dirArgs.push('--dir', `${d}::/`);
        }
        const rec = await cli.run(['record', '-o', trace, '--digest-every', '7', ...dirArgs, g.path, ...g.args], { input: g.stdin });
        expect(rec.code, `record ${g.name}\n${show(rec)}`).to.equal(0);
        expect(rec.stderr, g.name).to.match(/twinstep record: \d+ entries, \d+ host calls, \d+ bytes ->/);
        const rep = await cli.run(['replay', trace]);
        expect(rep.code, `replay ${g.name}\n${show(rep)}`).to.equal(0);
        expect(rep.stdout, g.name).to.match(/result: IDENTICAL after (\d+)\/\1 entries/);
        // Replay never shows the guest's output on the terminal, and never reads stdin.
        if (g.stdin) expect(rep.stdout).to.not.include('FIRST LINE');
      });
    });

    it('--format json / junit --report write the report and print one summary line', async () => {
      const trace = at('lines.twt');
      expect((await cli.run(['record', '-o', trace, LINES])).code).to.equal(0);
      const r = await cli.run(['replay', '--format', 'json', '--report', at('ok.json'), trace]);
      expect(r.code, show(r)).to.equal(0);
      expect(r.stdout.trim().split('\n')).to.deep.equal([r.stdout.trim()]);
      expect(r.stdout).to.match(/^twinstep replay: IDENTICAL \(12 entries, 11 host calls\)/);
      expect(json(at('ok.json'))).to.deep.include({ status: 'identical', differential: false, entries: 12, entriesTotal: 12 });
      const j = await cli.run(['replay', '--format', 'junit', '--report', at('ok.xml'), trace]);
      expect(j.code, show(j)).to.equal(0);
      const xml = readFileSync(at('ok.xml'), 'utf8');
      expect(xml).to.match(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="twinstep replay" tests="1" failures="0" errors="0"/);
      expect(xml).to.not.include('<failure');
    });
  });

  describe('differential replay', () => {
    it('lines recorded, lines-v2 replayed: exit 1, the JSON report names entry #6, output-mismatch, differential', async () => {
      const trace = at('lines-diff.twt');
      expect((await cli.run(['record', '-o', trace, LINES])).code).to.equal(0);
      const r = await cli.run(['replay', '--guest', LINES_V2, '--format', 'json', '--report', at('diff.json'), trace]);
      expect(r.code, show(r)).to.equal(1);
      expect(r.stdout).to.match(/^twinstep replay: DIVERGED \(1\): first output-mismatch at entry #6, host call 7/);
      const rep = json(at('diff.json'));
      expect(rep.differential).to.equal(true);
      expect(rep.recordedModuleHash).to.not.equal(rep.replayedModuleHash);
      expect(rep.divergences).to.have.length(1);
      expect(rep.divergences[0]).to.deep.include({ kind: 'output-mismatch', seq: 6, callIndex: 7, firstDifferingByte: 8 });
      expect(rep.divergences[0].expected.data.text).to.equal('line 7: 49\n');
      expect(rep.divergences[0].actual.data.text).to.equal('line 7: 1049\n');
      // The text report says the same, with the hexdump.
      const t = await cli.run(['replay', '--guest', LINES_V2, trace]);
      expect(t.code).to.equal(1);
      expect(t.stdout).to.include('DIFFERENTIAL REPLAY');
      expect(t.stdout).to.include('divergence 1: output-mismatch at entry #6 (host call 7)');
      expect(t.stdout).to.match(/actual +6c 69 6e 65 20 37 3a 20 31 30 34 39 0a/);
    });

    it('lines recorded, lines-hang replayed with --timeout: exit 1, a timeout at entry #6 where the run loops, in every format', async () => {
      const trace = at('lines-hang.twt');
      expect((await cli.run(['record', '-o', trace, LINES])).code).to.equal(0);
      const r = await cli.run(['replay', '--guest', LINES_HANG, '--timeout', '1500', '--format', 'json', '--report', at('hang.json'), trace]);
      expect(r.code, show(r)).to.equal(1);
      expect(r.stdout).to.match(/^twinstep replay: DIVERGED \(1\): first timeout at entry #6, host call 7: the replay did not end within 1500 ms \(--timeout\); it stood at host call 7, and had made no host call in its last \d+\.\d s, where the recording went on: it computes or loops there/);
      const rep = json(at('hang.json'));
      expect(rep.status).to.equal('diverged');
      expect(rep.entries).to.equal(6);
      expect(rep.divergences).to.have.length(1);
      expect(rep.divergences[0]).to.deep.include({ kind: 'timeout', seq: 6, callIndex: 7 });
      expect(rep.divergences[0].expected.data.text).to.equal('line 7: 49\n');
      const junit = await cli.run(['replay', '--guest', LINES_HANG, '--timeout', '1000', '--format', 'junit', trace]);
      expect(junit.code, show(junit)).to.equal(1);
      expect(junit.stdout).to.match(/<failure type="timeout" message="entry #6, host call 7: the replay did not end within 1000 ms/);
      // By streams too; and the build that does not hang is identical under the same limit.
      const stream = await cli.run(['replay', '--guest', LINES_HANG, '--match', 'stream', '--timeout', '1000', trace]);
      expect(stream.code, show(stream)).to.equal(1);
      expect(stream.stdout).to.include('divergence 1: timeout at host call 7');
      const same = await cli.run(['replay', '--timeout', '60000', trace]);
      expect(same.code, show(same)).to.equal(0);
      const bad = await cli.run(['replay', '--timeout', '1.5s', trace]);
      expect(bad.code, show(bad)).to.equal(2);
      expect(bad.stderr).to.include("--timeout expects a non-negative integer, got '1.5s'");
    });

    it('state recorded with --digest-every 1, state-v2 replayed: a digest-mismatch before any output differs', async () => {
      const trace = at('state.twt');
      const rec = await cli.run(['record', '-o', trace, '--digest-every', '1', STATE]);
      expect(rec.code, show(rec)).to.equal(0);
      const first = await cli.run(['replay', '--guest', STATE_V2, '--format', 'json', '--report', at('state.json'), trace]);
      expect(first.code, show(first)).to.equal(1);
      const d0 = json(at('state.json')).divergences[0];
      expect(d0.kind).to.equal('digest-mismatch');
      expect(d0.state.pages.length).to.be.greaterThan(0);
      // Keep going to the end: the outputs never differ at all.
      const all = await cli.run(['replay', '--guest', STATE_V2, '--keep-going', '--format', 'json', '--report', at('state-all.json'), trace]);
      expect(all.code, show(all)).to.equal(1);
      const kinds = json(at('state-all.json')).divergences.map((d: { kind: string }) => d.kind);
      expect(kinds.length).to.be.greaterThan(1);
      expect(kinds.every((k: string) => k === 'digest-mismatch'), kinds.join(',')).to.equal(true);
      expect(json(at('state-all.json')).divergenceLimit).to.equal(null);
      // --max-divergences: the replay stops at the limit, and the reports say so.
      const capped = await cli.run(['replay', '--guest', STATE_V2, '--keep-going', '--max-divergences', '2', '--format', 'json', '--report', at('state-2.json'), trace]);
      expect(capped.code, show(capped)).to.equal(1);
      expect(json(at('state-2.json')).divergences).to.have.length(2);
      expect(json(at('state-2.json')).divergenceLimit).to.equal(2);
      const cappedText = await cli.run(['replay', '--guest', STATE_V2, '--keep-going', '--max-divergences', '2', trace]);
      expect(cappedText.stdout).to.include('--keep-going stopped at its limit of 2 divergences: the replay went no further, later ones are not listed');
      const alone = await cli.run(['replay', '--guest', STATE_V2, '--max-divergences', '2', trace]);
      expect(alone.code, show(alone)).to.equal(2);
      expect(alone.stderr).to.include('--max-divergences applies to --keep-going');
      // The trace's outputs, for reference: the first output entry comes after the first divergence.
      const entries = (await cli.run(['inspect', '--entries', trace])).stdout.trim().split('\n').map((l) => JSON.parse(l));
      const firstOutput = entries.find((e) => e.kind === 'output');
      expect(d0.seq).to.be.lessThan(firstOutput.seq);
    });
  });

  describe('--digests (what state digests are compared against)', () => {
    it('files recorded, files-o1 (the same source at -O1) replayed: full diverges at the first digest with a hint; files and off pass', async () => {
      const dir = scratchDir();
      dirs.push(dir);
      const trace = at('files.twt');
      const rec = await cli.run(['record', '-o', trace, '--digest-every', '1', '--dir', `${dir}::/data`, FILES, '/data']);
      expect(rec.code, show(rec)).to.equal(0);
      const full = await cli.run(['replay', '--guest', FILES_O1, '--format', 'json', '--report', at('files-full.json'), trace]);
      expect(full.code, show(full)).to.equal(1);
      const rep = json(at('files-full.json'));
      expect(rep).to.deep.include({ differential: true, digests: { mode: 'full', compared: 1, skipped: 0 } });
      expect(rep.divergences[0]).to.deep.include({ kind: 'digest-mismatch', seq: 0 });
      expect(rep.divergences[0].state.files).to.deep.equal([]);
      expect(rep.hint).to.match(/--digests files compares only the files of the virtual disk/);
      const text = await cli.run(['replay', '--guest', FILES_O1, trace]);
      expect(text.stdout).to.match(/\nhint: a new build lays out its memory differently/);

      const files = await cli.run(['replay', '--guest', FILES_O1, '--digests', 'files', '--format', 'json', '--report', at('files-files.json'), trace]);
      expect(files.code, show(files)).to.equal(0);
      const fr = json(at('files-files.json'));
      expect(fr).to.deep.include({ status: 'identical', differential: true });
      expect(fr.digests.mode).to.equal('files');
      const entries = (await cli.run(['inspect', '--entries', trace])).stdout.trim().split('\n').map((l) => JSON.parse(l));
      expect(fr.digests.compared).to.equal(entries.filter((e) => e.kind === 'digest').length).and.greaterThan(10);
      expect(fr.hint).to.equal(undefined);
      const off = await cli.run(['replay', '--guest', FILES_O1, '--digests', 'off', trace]);
      expect(off.code, show(off)).to.equal(0);
      expect(off.stdout).to.match(/state digests: \d+ not compared \(--digests off\)/);
      // The recorded build itself passes under full.
      const same = await cli.run(['replay', trace]);
      expect(same.code, show(same)).to.equal(0);
      expect(same.stdout).to.match(/state digests: \d+ compared \(memory, globals, device state and files\)/);
    });

    it('refuses an unknown mode with exit 2', async () => {
      const r = await cli.run(['replay', '--digests', 'memory', at('files.twt')]);
      expect(r.code, show(r)).to.equal(2);
      expect(r.stderr).to.include("--digests expects one of full, files, off, got 'memory'");
    });
  });

  describe('--input-lane (clock and random results fed inside WebAssembly)', () => {
    it('on (the default) and off give the same report; a diverging build is reported the same way', async () => {
      const trace = at('lane.twt');
      expect((await cli.run(['record', '-o', trace, '--digest-every', '500', HOSTCALLS, '20000'])).code).to.equal(0);
      const strip = (r: Record<string, unknown>) => ({ ...r, durationMs: 0 });
      for (const [guest, code] of [[HOSTCALLS, 0], [wasm('c/clockrand.wasm'), 1]] as const) {
        const reports = [];
        for (const lane of ['on', 'off']) {
          const out = at(`lane-${lane}.json`);
          const r = await cli.run(['replay', '--input-lane', lane, '--guest', guest, '--format', 'json', '--report', out, trace]);
          expect(r.code, show(r)).to.equal(code);
          reports.push(strip(json(out)));
        }
        expect(reports[0], guest).to.deep.equal(reports[1]);
      }
    });

    it('refuses another value with exit 2', async () => {
      const r = await cli.run(['replay', '--input-lane', 'fast', at('lane.twt')]);
      expect(r.code, show(r)).to.equal(2);
      expect(r.stderr).to.include("--input-lane expects one of on, off, got 'fast'");
    });
  });

  describe('--match stream (a new build that writes the same bytes through other calls)', () => {
    it('lines recorded, lines-split replayed: by calls exit 1 with a hint; by streams exit 0; lines-v2 still exit 1', async () => {
      const trace = at('match.twt');
      expect((await cli.run(['record', '-o', trace, LINES])).code).to.equal(0);
      const calls = await cli.run(['replay', '--guest', LINES_SPLIT, '--format', 'json', '--report', at('match-calls.json'), trace]);
      expect(calls.code, show(calls)).to.equal(1);
      const c = json(at('match-calls.json'));
      expect(c).to.deep.include({ match: 'calls', status: 'diverged' });
      expect(c.divergences[0]).to.deep.include({ kind: 'output-mismatch', seq: 0 });
      expect(c.hint).to.match(/^the new build writes these bytes in other pieces: --match stream/);

      const stream = await cli.run(['replay', '--match', 'stream', '--guest', LINES_SPLIT, '--format', 'json', '--report', at('match-stream.json'), trace]);
      expect(stream.code, show(stream)).to.equal(0);
      const st = json(at('match-stream.json'));
      expect(st).to.deep.include({ match: 'stream', status: 'identical', differential: true, entries: 12, entriesTotal: 12 });
      expect(st.digests).to.deep.equal({ mode: 'off', compared: 0, skipped: 1 });
      const text = await cli.run(['replay', '--match', 'stream', '--guest', LINES_SPLIT, trace]);
      expect(text.stdout).to.include('matched: inputs in recorded order, outputs as byte streams per channel (--match stream)');
      expect(text.stdout).to.include('state digests: 1 not compared (--match stream)');

      const v2 = await cli.run(['replay', '--match', 'stream', '--guest', LINES_V2, trace]);
      expect(v2.code, show(v2)).to.equal(1);
      expect(v2.stdout).to.match(/divergence 1: output-mismatch at entry #6 \(host call 7\)\n  fd_write at host call 7 wrote different bytes than recorded on channel 1 \(byte 71 of its stream; recorded by fd_write at host call 7\)/);
    });

    it('refuses --digests and --fault with --match stream (exit 2)', async () => {
      const [d, f, m] = await Promise.all([
        cli.run(['replay', '--match', 'stream', '--digests', 'files', at('match.twt')]),
        cli.run(['replay', '--match', 'stream', '--fault', 'output@3', at('match.twt')]),
        cli.run(['replay', '--match', 'bytes', at('match.twt')]),
      ]);
      expect([d.code, f.code, m.code]).to.deep.equal([2, 2, 2]);
      expect(d.stderr).to.equal('twinstep replay: --digests does not apply to --match stream (it compares no state digests)\n');
      expect(f.stderr).to.equal('twinstep replay: --fault works with --match calls only\n');
      expect(m.stderr).to.equal("twinstep replay: --match expects one of calls, stream, got 'bytes'\n");
    });
  });

  describe('several traces in one replay', () => {
    it('replays each in turn: exit 1 when any diverged, 2 when one is unusable and none diverged, 0 when all are identical', async () => {
      const [lines, hello] = [at('many-lines.twt'), at('many-hello.twt')];
      expect((await cli.run(['record', '-o', lines, LINES])).code).to.equal(0);
      expect((await cli.run(['record', '-o', hello, wasm('c/hello.wasm'), 'x'])).code).to.equal(0);
      const junk = at('many-junk.twt');
      writeFileSync(junk, 'not a trace at all');

      const ok = await cli.run(['replay', lines, hello]);
      expect(ok.code, show(ok)).to.equal(0);
      expect(ok.stdout).to.match(/^twinstep replay: .*many-lines\.twt\n[^]*\ntwinstep replay: .*many-hello\.twt\n[^]*\n2 traces: 2 identical\n$/);

      const unusable = await cli.run(['replay', '--format', 'junit', '--report', at('many.xml'), lines, junk]);
      expect(unusable.code, show(unusable)).to.equal(2);
      expect(unusable.stdout.split('\n')).to.deep.equal([
        `twinstep replay: ${lines}: IDENTICAL (12 entries, 11 host calls)`,
        `twinstep replay: ${junk}: UNUSABLE (cannot read trace '${junk}': not a twinstep trace file (bad magic bytes) (at byte 0))`,
        'twinstep replay: 2 traces: 1 identical, 1 unusable',
        '',
      ]);
      expect(unusable.stderr).to.equal(`twinstep replay: cannot read trace '${junk}': not a twinstep trace file (bad magic bytes) (at byte 0)\n`);
      const doc = parseXml(readFileSync(at('many.xml'), 'utf8'));
      expect(doc.attrs).to.deep.include({ tests: '2', failures: '0', errors: '1' });
      expect(findAll(doc, 'testcase').map((c) => c.attrs.name)).to.deep.equal([`replay many-lines.twt with ${LINES}`, 'replay many-junk.twt']);

      // lines-v2 against both: the lines trace diverges (exit 1 wins over the unusable one), hello's calls do not line up.
      const diverged = await cli.run(['replay', '--guest', LINES_V2, '--format', 'json', '--report', at('many.json'), lines, junk, hello]);
      expect(diverged.code, show(diverged)).to.equal(1);
      const j = json(at('many.json'));
      expect(j.format).to.equal('twinstep-replay-reports');
      expect(j.totals).to.deep.equal({ traces: 3, identical: 0, diverged: 2, incomplete: 0, unusable: 1 });
      expect(j.traces.map((t: { trace: string; status: string }) => [t.trace, t.status])).to.deep.equal([[lines, 'diverged'], [junk, 'unusable'], [hello, 'diverged']]);
      expect(j.traces[0].divergences[0]).to.deep.include({ kind: 'output-mismatch', seq: 6 });
    });

    it('refuses an option after the first trace (exit 2), which would otherwise be taken for a trace', async () => {
      const r = await cli.run(['replay', at('many-lines.twt'), '--keep-going', at('many-hello.twt')]);
      expect(r.code, show(r)).to.equal(2);
      expect(r.stderr).to.equal("twinstep replay: options go before TRACE (got '--keep-going' after it)\n");
    });
  });

  describe('--fault', () => {
    it('input, output and memory faults each give exit 1 with the matching divergence', async () => {
      const echo = at('echo.twt');
      const hc = at('hostcalls.twt');
      const [e, h] = await Promise.all([
        cli.run(['record', '-o', echo, ECHO], { input: 'first line\nsecond\n' }),
        cli.run(['record', '-o', hc, '--digest-every', '5', HOSTCALLS, '300']),
      ]);
      expect(e.code, show(e)).to.equal(0);
      expect(h.code, show(h)).to.equal(0);
      const hcEntries = (await cli.run(['inspect', '--entries', hc])).stdout.trim().split('\n').map((l) => JSON.parse(l));
      const out = hcEntries.find((x) => x.kind === 'output' && x.channel === 1);
      const digest = hcEntries.filter((x) => x.kind === 'digest')[10];
      const [fi, fo, fm] = await Promise.all([
        cli.run(['replay', '--fault', 'input@0', '--format', 'json', '--report', at('fi.json'), echo]),
        cli.run(['replay', '--fault', `output@${out.seq}`, '--format', 'json', '--report', at('fo.json'), hc]),
        cli.run(['replay', '--fault', `memory@${digest.callIndex - 1}:${5 * 4096 + 3}`, '--format', 'json', '--report', at('fm.json'), hc]),
      ]);
      for (const r of [fi, fo, fm]) expect(r.code, show(r)).to.equal(1);
      const di = json(at('fi.json')).divergences[0];
      expect(di.kind).to.equal('output-mismatch');
      expect(di.actual.data.text).to.match(/^GIRST LINE\n/);
      expect(json(at('fo.json')).divergences[0]).to.deep.include({ kind: 'output-mismatch', seq: out.seq, callIndex: out.callIndex });
      const dm = json(at('fm.json')).divergences[0];
      expect(dm).to.deep.include({ kind: 'digest-mismatch', seq: digest.seq, callIndex: digest.callIndex });
      expect(dm.state.pages).to.deep.equal([5]);
    });
  });

  describe('damaged traces', () => {
    let trace: string;
    let bytes: Buffer;
    before(async () => {
      // Several batch frames (4096 entries each), so the middle of the file is inside an entry batch.
      trace = at('damage.twt');
      const r = await cli.run(['record', '-o', trace, HOSTCALLS, '12000']);
      expect(r.code, show(r)).to.equal(0);
      bytes = readFileSync(trace);
    });

    it('a flipped byte in the middle: the valid prefix replays, then exit 2 naming the corrupt frame', async () => {
      const seed = BASE_SEED + 1;
      const next = rng(seed);
      const files = [0, 1, 2].map((k) => {
        const b = Buffer.from(bytes);
        const pos = Math.floor(bytes.length * (0.35 + 0.3 * next()));
        b[pos] ^= 1 << Math.floor(next() * 8);
        const f = at(`flip-${k}.twt`);
        writeFileSync(f, b);
        return { f, pos };
      });
      const results = await pool(files, 3, ({ f }) => cli.run(['replay', f]));
      results.forEach((r, k) => {
        const what = `seed ${seed}, flipped byte ${files[k].pos} of ${bytes.length}`;
        expectUnusable(r, /twinstep replay: corrupt frame at byte \d+ \(E_CHECKSUM\).*; the \d+ entries before it replayed identically/, what);
        expect(r.stdout, what).to.match(/result: INCOMPLETE after \d+ entries/);
      });
    });

    it('a truncated tail at several cut points: exit 2, torn or unreadable, never a divergence', async () => {
      const seed = BASE_SEED + 2;
      const next = rng(seed);
      const n = bytes.length;
      const cuts = [n - 1, n - 7, n - 60, n - 500, Math.floor(n * (0.3 + 0.4 * next())), Math.floor(n * (0.1 + 0.2 * next())), 40, 9];
      const results = await pool(cuts, 3, async (cut) => {
        const f = at(`cut-${cut}.twt`);
        writeFileSync(f, bytes.subarray(0, cut));
        return cli.run(['replay', '--format', 'json', '--report', at(`cut-${cut}.json`), f]);
      });
      results.forEach((r, k) => {
        const what = `seed ${seed}, cut at byte ${cuts[k]} of ${n}`;
        expectUnusable(r, /torn tail|trace ends inside|ends inside its \d+-byte prelude/, what);
        if (/replayed identically/.test(r.stderr)) {
          const rep = json(at(`cut-${cuts[k]}.json`));
          expect(rep.status, what).to.equal('incomplete');
          expect(rep.traceTail, what).to.match(/torn tail at byte \d+/);
          expect(rep.divergences, what).to.deep.equal([]);
        } else {
          // Cut inside the prelude or header: nothing to replay.
          expect(r.stderr, what).to.match(/^twinstep replay: cannot read trace '.*': /);
          expect(cuts[k], what).to.be.lessThan(400);
        }
      });
      // The cut inside the end frame still replays every entry before the tear (all the trace holds).
      const reader = TraceReader.open(trace);
      const entries = [...reader].length;
      reader.close();
      expect(results[1].stderr).to.match(new RegExp(`the ${entries} entries before it replayed identically`));
    });

    it('inspect reports a torn tail with exit 2, with --entries too (the entries before it listed)', async () => {
      const f = at('inspect-cut.twt');
      writeFileSync(f, bytes.subarray(0, bytes.length - 100));
      const r = await cli.run(['inspect', f]);
      expect(r.code, show(r)).to.equal(2);
      expect(r.stdout).to.match(/tail torn: .*\(byte \d+\)/);
      const listed = await cli.run(['inspect', '--entries', f]);
      expect(listed.code, show(listed)).to.equal(2);
      expect(listed.stderr).to.match(/the entries stop at a damaged tail: torn: .*\(byte \d+\)/);
      const entries = listed.stdout.trim().split('\n').map((l) => JSON.parse(l));
      expect(entries.length).to.be.greaterThan(0);
      expect(entries.map((e) => e.seq)).to.deep.equal(entries.map((_, i) => i));
    });

    it('wrong magic and a future format version: exit 2 with a clear message', async () => {
      const magic = Buffer.from(bytes);
      magic[0] ^= 0xff;
      writeFileSync(at('magic.twt'), magic);
      const future = Buffer.from(bytes);
      future.writeUInt16LE(0x7fff, 8);
      writeFileSync(at('future.twt'), future);
      writeFileSync(at('empty.twt'), '');
      const [m, v, e] = await Promise.all([cli.run(['replay', at('magic.twt')]), cli.run(['replay', at('future.twt')]), cli.run(['replay', at('empty.twt')])]);
      expectUnusable(m, /^twinstep replay: cannot read trace '.*magic\.twt': not a twinstep trace file \(bad magic bytes\)/, 'wrong magic');
      expectUnusable(v, new RegExp(`trace format version 32767 is newer than this build supports \\(version ${traceFormatVersion}\\); upgrade twinstep`), 'future version');
      expectUnusable(e, /cannot read trace '.*empty\.twt'/, 'empty file');
      for (const r of [m, v, e]) expect(r.stderr.trim().split('\n'), show(r)).to.have.length(1);
    });

    it('a single trace that cannot be replayed still gets the report asked for, replacing an older one (exit 2)', async () => {
      writeFileSync(at('not-a-trace.twt'), 'hello\n');
      const cases = [
        { trace: at('not-a-trace.twt'), why: /not a twinstep trace file/ },
        { trace: at('no-such.twt'), why: /no such file/ },
      ];
      for (const { trace, why } of cases) {
        writeFileSync(at('stale.xml'), '<testsuites tests="1" failures="0" errors="0"/>');
        const j = await cli.run(['replay', '--format', 'junit', '--report', at('stale.xml'), trace]);
        expectUnusable(j, why, 'junit');
        const xml = readFileSync(at('stale.xml'), 'utf8');
        expect(xml).to.match(/<testsuites name="twinstep replay" tests="1" failures="0" errors="1"/);
        expect(xml).to.match(/<error type="unusable" message="[^"]*"\/>/);
        const o = await cli.run(['replay', '--format', 'json', trace]);
        expectUnusable(o, why, 'json');
        expect(JSON.parse(o.stdout)).to.deep.include({ format: 'twinstep-replay-report', status: 'unusable' });
        const t = await cli.run(['replay', '--report', at('stale.txt'), trace]);
        expectUnusable(t, why, 'text');
        expect(readFileSync(at('stale.txt'), 'utf8')).to.match(/result: UNUSABLE: /);
      }
    });

    it('a recorder killed with SIGKILL leaves a trace whose prefix replays identically (seeded kill times)', async () => {
      const trials = [0, 1, 2, 3, 4];
      await pool(trials, 2, async (t) => {
        const seed = BASE_SEED + 100 + t;
        const delayMs = Math.floor(rng(seed)() * 1100);
        const trace = at(`killed-${t}.twt`);
        const rec = await killRecorderAfter(trace, delayMs);
        const what = `trial ${t}, seed ${seed}: SIGKILL ${delayMs} ms after the first tick (${rec.ticks} ticks seen, ${rec.killed ? 'killed' : 'finished first'})`;
        expect(existsSync(trace), what).to.equal(true);
        const r = await cli.run(['replay', trace]);
        const ctx = `${what}\n${show(r)}`;
        if (rec.killed) {
          expectUnusable(r, /the \d+ entries before it replayed identically/, what);
          expect(r.stderr, ctx).to.match(/no end marker|torn tail/);
        } else {
          expect(r.code, ctx).to.equal(0);
          expect(r.stdout, ctx).to.match(/IDENTICAL/);
        }
      });
    });
  });

  describe('interrupts (SIGINT, SIGTERM)', () => {
    it('stop the guest at its next host call and close the trace: every line shown is in it, and it replays identically (exit 0)', async () => {
      for (const sig of ['SIGINT', 'SIGTERM'] as const) {
        const trace = at(`interrupted-${sig}.twt`);
        const rec = await signalRecorder(trace, sig, ['record', '-o', trace, TICKER, '400', '5'], 'tick 3\n');
        const what = `${sig}\n${show(rec)}`;
        expect(rec.code, what).to.equal(sig === 'SIGINT' ? 130 : 143);
        expect(rec.stderr, what).to.include(`twinstep record: ${sig}: stopping the guest at its next host call and closing the trace (again to abort)`);
        expect(rec.stderr, what).to.include(`(stopped: interrupted by ${sig})`);
        const shown = rec.stdout.split('\n').filter(Boolean);
        expect(shown.length, what).to.be.within(3, 399);
        const entries = (await cli.run(['inspect', '--entries', trace])).stdout.trim().split('\n').map((l) => JSON.parse(l));
        const logged = entries.filter((e) => e.kind === 'output' && e.channel === 1).map((e) => e.text.trimEnd());
        expect(logged, 'the trace holds exactly the lines shown').to.deep.equal(shown);
        expect(entries.at(-1)).to.deep.include({ call: '_cap', text: `interrupted by ${sig}` });
        const r = await cli.run(['replay', trace]);
        expect(r.code, show(r)).to.equal(0);
        expect(r.stdout).to.include('(recording was capped; replayed to the cap)');
      }
    });

    it('a guest blocked reading stdin is killed by SIGINT at once, as without twinstep', async () => {
      const trace = at('interrupted-stdin.twt');
      const t0 = Date.now();
      const rec = await signalRecorder(trace, 'SIGINT', ['record', '-o', trace, ECHO], undefined, 1500);
      // Killed by the signal while blocked (or, had it come before the read, stopped at a call: exit 130). Never
      // stuck: a handler cannot run while the read blocks, so it must not be attached then.
      expect(rec.signal === 'SIGINT' || rec.code === 130, show(rec)).to.equal(true);
      expect(Date.now() - t0).to.be.below(30_000);
    });
  });

  describe('caps', () => {
    it('--max-bytes: the trace ends with a cap marker near the cap and replays to it (exit 0)', async () => {
      const trace = at('cap.twt');
      const rec = await cli.run(['record', '--max-bytes', '8192', '-o', trace, HOSTCALLS, '200000']);
      expect(rec.code, show(rec)).to.equal(0);
      expect(rec.stderr).to.include('(stopped: size cap of 8192 bytes reached)');
      // The cap counts the pending batch too: the file overshoots by the final digest and end marker only.
      expect(statSync(trace).size).to.be.within(4096, 8192 + 2048);
      const info = JSON.parse((await cli.run(['inspect', '--json', trace])).stdout);
      expect(info.end).to.equal('_cap: size cap of 8192 bytes reached');
      expect(info.tail).to.equal('clean');
      const r = await cli.run(['replay', trace]);
      expect(r.code, show(r)).to.equal(0);
      expect(r.stdout).to.include('(recording was capped; replayed to the cap)');
    });

    it('--max-duration: the recording stops early with a cap marker and replays (exit 0)', async () => {
      const trace = at('cap-ms.twt');
      const rec = await cli.run(['record', '--max-duration', '150', '-o', trace, TICKER, '1000', '5']);
      expect(rec.code, show(rec)).to.equal(0);
      expect(rec.stderr).to.include('(stopped: duration cap of 150 ms reached)');
      expect(rec.stdout).to.not.include('tick 1000');
      const r = await cli.run(['replay', trace]);
      expect(r.code, show(r)).to.equal(0);
      expect(r.stdout).to.include('recording was capped');
    });
  });

  describe('trace formats', () => {
    it('--trace-format 1 writes a format 1 trace (payloads whole: bigger), which replays identically; a format this build does not write is refused (64)', async () => {
      const old = at('format-1.twt');
      const cur = at('format-cur.twt');
      // 40000 calls: the recording hands over to the encoder thread, which must keep the format too.
      for (const [path, extra] of [[old, ['--trace-format', '1']], [cur, []]] as const) {
        const rec = await cli.run(['record', ...extra, '-o', path, HOSTCALLS, '40000']);
        expect(rec.code, show(rec)).to.equal(0);
      }
      expect((await cli.run(['inspect', old])).stdout.split('\n')[0]).to.match(/\(format v1, /);
      expect((await cli.run(['inspect', cur])).stdout.split('\n')[0]).to.match(new RegExp(`\\(format v${traceFormatVersion}, `));
      // Format 1 stores each clock read's request and value whole: about 29 bytes against 11.
      expect(statSync(old).size).to.be.above(statSync(cur).size * 2);
      const r = await cli.run(['replay', old]);
      expect(r.code, show(r)).to.equal(0);
      const bad = await cli.run(['record', '--trace-format', String(traceFormatVersion + 1), '-o', at('format-bad.twt'), HOSTCALLS, '10']);
      expect(bad.code, show(bad)).to.equal(64);
      expect(bad.stderr).to.include(`--trace-format expects a format this build writes, 1 to ${traceFormatVersion}, got ${traceFormatVersion + 1}`);
      expect(existsSync(at('format-bad.twt')), 'nothing written for a refused format').to.equal(false);
    });
  });

  describe('snapshots', () => {
    it('run --snapshot-at, record --from, replay → identical; another build is refused (exit 2)', async () => {
      const snap = at('lines.snap');
      const trace = at('from-snap.twt');
      const run = await cli.run(['run', '--snapshot-at', '5', '--snapshot-out', snap, LINES]);
      expect(run.code, show(run)).to.equal(0);
      expect(run.stderr).to.include('snapshot at host call 5');
      const rec = await cli.run(['record', '--from', snap, '-o', trace, LINES]);
      expect(rec.code, show(rec)).to.equal(0);
      // The restored guest continues where the snapshot was taken (host call 5 writes line 5): lines 5..10 only.
      expect(rec.stdout).to.equal('line 5: 25\nline 6: 36\nline 7: 49\nline 8: 64\nline 9: 81\nline 10: 100\n');
      const ins = await cli.run(['inspect', trace]);
      expect(ins.stdout).to.match(/start +host call 5, seq 0, from a snapshot/);
      const rep = await cli.run(['replay', trace]);
      expect(rep.code, show(rep)).to.equal(0);
      expect(rep.stdout).to.match(/IDENTICAL/);
      const v2 = await cli.run(['replay', '--guest', LINES_V2, trace]);
      expect(v2.code, show(v2)).to.equal(2);
      expect(v2.stderr).to.match(/starts from a snapshot of module [0-9a-f]{16}; a different build \([0-9a-f]{16}\) cannot resume/);
      const args = await cli.run(['record', '--from', snap, '-o', at('x.twt'), LINES, 'extra']);
      expect(args.code, show(args)).to.equal(64);
    });

    it('under --unwind io: the snapshot moves to the next call that can pause, and record and replay resume it under io', async () => {
      const snap = at('lines-io.snap');
      const trace = at('from-snap-io.twt');
      // Host call 0 is a pure one (fd_fdstat_get of stdout); the first output, line 1, is host call 1.
      const run = await cli.run(['run', '--unwind', 'io', '--snapshot-at', '0', '--snapshot-out', snap, LINES]);
      expect(run.code, show(run)).to.equal(0);
      expect(run.stderr).to.match(/^twinstep run: snapshot at host call (\d+) \(the first call from 0 on that the guest can pause at under --unwind io\) -> /m);
      const rec = await cli.run(['record', '--from', snap, '-o', trace, LINES]);
      expect(rec.code, show(rec)).to.equal(0);
      expect((await cli.run(['inspect', trace])).stdout).to.match(/unwind io/);
      const rep = await cli.run(['replay', trace]);
      expect(rep.code, show(rep)).to.equal(0);
      expect(rep.stdout).to.match(/IDENTICAL/);
      const other = await cli.run(['record', '--unwind', 'all', '--from', snap, '-o', at('x.twt'), LINES]);
      expect(other.code, show(other)).to.equal(64);
      expect(other.stderr).to.equal('twinstep record: --from: the snapshot was taken under --unwind io; it resumes only under the same (leave --unwind out)\n');
      const none = await cli.run(['run', '--unwind', 'none', '--snapshot-at', '3', '--snapshot-out', at('n.snap'), LINES]);
      expect(none.code, show(none)).to.equal(64);
      expect(none.stderr).to.match(/--snapshot-at stops the guest at a host call, which --unwind none cannot pause at/);
    });
  });

  describe('a reader of stdout that goes away (| head)', () => {
    it('ends an entry listing quietly (exit 0), and leaves replay its exit code', async () => {
      const trace = at('pipe.twt');
      expect((await cli.run(['record', '-o', trace, HOSTCALLS, '50000'])).code).to.equal(0);
      const listing = await closedAfterFirstOutput(['inspect', '--entries', trace]);
      expect(listing.code, show(listing)).to.equal(0);
      expect(listing.stderr, show(listing)).to.equal('');
      const lines = at('pipe-lines.twt');
      expect((await cli.run(['record', '-o', lines, LINES])).code).to.equal(0);
      const diverged = await closedAfterFirstOutput(['replay', '--guest', LINES_V2, lines]);
      expect(diverged.code, show(diverged)).to.equal(1);
      expect(diverged.stderr, show(diverged)).to.not.match(/EPIPE|internal error|\n\s+at /);
    });

    it('ends a guest that would write for ever as SIGPIPE ends a program (exit 141); a recording is closed there and replays', async () => {
      // ticker 1000000 1: a line every millisecond for a quarter of an hour.
      const run = await closedAfterFirstOutput(['run', TICKER, '1000000', '1']);
      expect(run.code, show(run)).to.equal(141);
      expect(run.stderr, show(run)).to.equal('');
      const trace = at('pipe-forever.twt');
      const rec = await closedAfterFirstOutput(['record', '-o', trace, TICKER, '1000000', '1']);
      expect(rec.code, show(rec)).to.equal(141);
      expect(rec.stderr).to.include("twinstep record: the reader of the guest's stdout went away (EPIPE): stopping the guest at its next host call and closing the trace");
      expect(rec.stderr).to.match(/\(stopped: the reader of stdout went away\)/);
      const r = await cli.run(['replay', trace]);
      expect(r.code, show(r)).to.equal(0);
      expect(r.stdout).to.include('(recording was capped; replayed to the cap)');
    });
  });

  describe('inspect', () => {
    let trace: string;
    before(async () => {
      trace = at('inspect.twt');
      const r = await cli.run(['record', '-o', trace, '--digest-every', '4', wasm('c/clockrand.wasm')]);
      expect(r.code, show(r)).to.equal(0);
    });

    it('prints the header and a summary', async () => {
      const r = await cli.run(['inspect', trace]);
      expect(r.code, show(r)).to.equal(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).to.match(new RegExp(`^trace .*inspect\\.twt \\(format v${traceFormatVersion}, twinstep \\d+\\.\\d+\\.\\d+\\)$`));
      expect(r.stdout).to.match(/module +\S+clockrand\.wasm +hash [0-9a-f]{16} +\d+ bytes/);
      expect(r.stdout).to.include('args     ["clockrand.wasm"]');
      expect(r.stdout).to.match(/digests +every 4 calls \/ 1000 ms; unwind all/);
      expect(r.stdout).to.match(/entries +\d+: 9 input, 5 output, \d+ digest/);
      expect(r.stdout).to.match(/calls +\d+ host calls; logged: .*clock_time_get 6/);
      expect(r.stdout).to.include('end      exit 0; tail clean');
    });

    it('--entries prints one JSON object per entry, in sequence', async () => {
      const r = await cli.run(['inspect', '--entries', trace]);
      expect(r.code, show(r)).to.equal(0);
      const entries = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
      expect(entries.map((e) => e.seq)).to.deep.equal(entries.map((_, i) => i));
      expect(new Set(entries.map((e) => e.kind))).to.deep.equal(new Set(['input', 'output', 'digest']));
      const rand = entries.find((e) => e.call === 'random_get');
      expect(rand.data).to.match(/^[0-9a-f]+$/);
      expect(entries.find((e) => e.kind === 'digest').root).to.match(/^[0-9a-f]{16}$/);
      expect(entries.at(-1)).to.deep.include({ kind: 'output', call: 'proc_exit', channel: -1 });
      const s = JSON.parse((await cli.run(['inspect', '--json', trace])).stdout);
      expect(s.entries.total).to.equal(entries.length);
    });

    it('counts the host calls the recorder made, pure calls before the first logged one included', async () => {
      const f = at('inspect-files.twt');
      const d = scratchDir();
      dirs.push(d);
      const rec = await cli.run(['record', '-o', f, '--dir', `${d}::/`, FILES, '/']);
      expect(rec.code, show(rec)).to.equal(0);
      const made = Number(/(\d+) host calls/.exec(rec.stderr)?.[1]);
      const s = JSON.parse((await cli.run(['inspect', '--json', f])).stdout);
      const firstLogged = JSON.parse((await cli.run(['inspect', '--entries', f])).stdout.split('\n')[0]!).callIndex;
      expect(firstLogged, 'files makes pure calls before its first logged one').to.be.greaterThan(0);
      expect(s.hostCalls).to.equal(made);
      expect(s.hostCallsExact).to.equal(true);
    });
  });

  describe('preopened directories', () => {
    it('a trace replays against its recorded directory; a different directory content gets a note', async () => {
      const d = scratchDir();
      const other = scratchDir();
      dirs.push(d, other);
      writeFileSync(join(other, 'existing', 'note.txt'), 'different content\n');
      const trace = at('files.twt');
      const rec = await cli.run(['record', '-o', trace, '--dir', `${d}::/`, wasm('c/files.wasm'), '/']);
      expect(rec.code, show(rec)).to.equal(0);
      const same = await cli.run(['replay', trace]);
      expect(same.code, show(same)).to.equal(0);
      expect(same.stderr).to.not.include('note:');
      const diff = await cli.run(['replay', '--dir', `${other}::/`, trace]);
      expect(diff.stderr, show(diff)).to.include('twinstep replay: note: the preopened directories differ from the ones recorded');
      // Another build starts with other globals: its disk is still compared alone (no note for the same files).
      const rebuilt = await cli.run(['replay', '--guest', FILES_O1, '--digests', 'files', trace]);
      expect(rebuilt.code, show(rebuilt)).to.equal(0);
      expect(rebuilt.stderr, show(rebuilt)).to.not.include('note:');
      const rebuiltOther = await cli.run(['replay', '--guest', FILES_O1, '--digests', 'files', '--dir', `${other}::/`, trace]);
      expect(rebuiltOther.stderr, show(rebuiltOther)).to.include('twinstep replay: note: the preopened directories differ from the ones recorded');
      rmSync(d, { recursive: true, force: true });
      const gone = await cli.run(['replay', trace]);
      expect(gone.code, show(gone)).to.equal(2);
      expect(gone.stderr).to.match(/preopened directory '.*' \(guest '\/'\) is missing; pass --dir HOST::\//);
    });
  });

  describe('usage errors', () => {
    const cases: Array<{ args: string[]; code: number; message: RegExp }> = [
      { args: ['record', LINES], code: 64, message: /^twinstep record: missing -o TRACE/ },
      { args: ['record', '-o', 'x.twt', '--bogus', LINES], code: 64, message: /^twinstep record: unknown option '--bogus'/ },
      { args: ['record', '-o'], code: 64, message: /^twinstep record: -o needs a value/ },
      { args: ['record', '-o', 'x.twt', '--digest-every', 'often', LINES], code: 64, message: /--digest-every expects a non-negative integer, got 'often'/ },
      { args: ['record', '-o', 'x.twt', '--digest-budget', '0', LINES], code: 64, message: /--digest-budget expects a percentage above 0 and at most 100, got '0'/ },
      { args: ['record', '-o', 'x.twt', '--digest-budget', '2%', LINES], code: 64, message: /--digest-budget expects a percentage above 0 and at most 100, got '2%'/ },
      { args: ['replay', '/nonexistent/trace.twt'], code: 2, message: /^twinstep replay: cannot read trace '\/nonexistent\/trace\.twt': no such file/ },
      { args: ['replay'], code: 2, message: /^twinstep replay: missing TRACE$/ },
      { args: ['replay', '--bogus', 'x.twt'], code: 2, message: /^twinstep replay: unknown option '--bogus'/ },
      { args: ['replay', '--format', 'xml', 'x.twt'], code: 2, message: /--format expects one of text, json, junit, got 'xml'/ },
      { args: ['replay', '--keep-going', '--until-divergence', 'x.twt'], code: 2, message: /exclude each other/ },
      { args: ['replay', '--fault', 'cosmic@3', 'x.twt'], code: 2, message: /--fault expects input@SEQ, output@SEQ or memory@CALL\[:ADDRESS\]/ },
      { args: ['inspect', '/nonexistent/trace.twt'], code: 2, message: /^twinstep inspect: cannot read trace/ },
      { args: ['frobnicate'], code: 64, message: /^twinstep: unknown command 'frobnicate'/ },
      // Output files are checked before anything runs (exit 73, replay 2), never an internal error at the end.
      { args: ['record', '-o', '/nonexistent-dir/x.twt', LINES], code: 73, message: /^twinstep record: -o '\/nonexistent-dir\/x\.twt': directory '\/nonexistent-dir' does not exist$/ },
      { args: ['record', '-o', tmpdir(), LINES], code: 73, message: /^twinstep record: -o '.*' is a directory; give a file name$/ },
      // An output that is an input of the same command is refused before anything is written.
      { args: ['record', '-o', LINES, LINES], code: 64, message: /^twinstep record: -o '.*lines\.wasm' is an input of this command \('.*lines\.wasm'\); writing it would destroy it$/ },
      { args: ['run', '--snapshot-at', '2', '--snapshot-out', LINES, LINES], code: 64, message: /^twinstep run: --snapshot-out '.*lines\.wasm' is an input of this command/ },
      { args: ['replay', '--report', LINES, '--guest', LINES, LINES], code: 2, message: /^twinstep replay: --report '.*lines\.wasm' is an input of this command/ },
      // A device that is always full: the write fails (exit 74) with the reason, not an internal error.
      { args: ['record', '-o', '/dev/full', LINES], code: 74, message: /^twinstep record: cannot write the trace '\/dev\/full': no space left on device, write \(ENOSPC\); before the guest started$/ },
      { args: ['run', '--snapshot-at', '3', '--snapshot-out', '/nonexistent-dir/s.snap', LINES], code: 73, message: /^twinstep run: --snapshot-out '\/nonexistent-dir\/s\.snap': directory '\/nonexistent-dir' does not exist$/ },
      { args: ['replay', '--report', '/nonexistent-dir/r.xml', 'x.twt'], code: 2, message: /^twinstep replay: --report '\/nonexistent-dir\/r\.xml': directory '\/nonexistent-dir' does not exist$/ },
      { args: ['primary', '--peer', 'ws://127.0.0.1:9', '--secret-file', SECRET, '--checkpoint-file', '/nonexistent-dir/c.snap', LINES], code: 73, message: /^twinstep primary: --checkpoint-file '\/nonexistent-dir\/c\.snap': directory '\/nonexistent-dir' does not exist$/ },
      // Options a command has no use for are refused, never silently ignored.
      { args: ['replay', '--env', 'A=1', 'x.twt'], code: 2, message: /^twinstep replay: unknown option '--env'/ },
      { args: ['replay', 'x.twt', '--format', 'json'], code: 2, message: /^twinstep replay: options go before TRACE \(got '--format' after it\)$/ },
      { args: ['inspect', '--dir', '/tmp', 'x.twt'], code: 64, message: /^twinstep inspect: unknown option '--dir'/ },
      { args: ['inspect', 'x.twt', 'y.twt'], code: 64, message: /^twinstep inspect: unexpected arguments after TRACE: y\.twt$/ },
      { args: ['secondary', '--listen', '127.0.0.1:0', '--secret-file', SECRET, 'app.wasm'], code: 64, message: /^twinstep secondary: unexpected argument 'app\.wasm' \(this command takes options only\)/ },
      { args: ['secondary', '--listen', '127.0.0.1:0', '--secret-file', SECRET, '--dir', '/tmp'], code: 64, message: /^twinstep secondary: unknown option '--dir'/ },
      // Settings the protocol cores refuse: a usage error naming the flag, not an internal error.
      { args: ['primary', '--peer', 'ws://127.0.0.1:9', '--secret-file', SECRET, '--digest-budget', '101', LINES], code: 64, message: /^twinstep primary: --digest-budget expects a percentage above 0 and at most 100, got '101'/ },
      { args: ['secondary', '--listen', '127.0.0.1:0', '--secret-file', SECRET, '--digest-budget', 'lots'], code: 64, message: /^twinstep secondary: --digest-budget expects a percentage above 0 and at most 100, got 'lots'/ },
      { args: ['primary', '--peer', 'ws://127.0.0.1:9', '--secret-file', SECRET, '--heartbeat-ms', '0', LINES], code: 64, message: /^twinstep primary: bad pair settings \(--heartbeat-ms\): heartbeatMs must be > 0/ },
      { args: ['primary', '--peer', 'ws://127.0.0.1:9', '--secret-file', SECRET, '--heartbeat-ms', '500', '--peer-timeout-ms', '400', LINES], code: 64, message: /^twinstep primary: bad pair settings \(--heartbeat-ms, --peer-timeout-ms\): peerTimeoutMs must exceed heartbeatMs/ },
      { args: ['secondary', '--listen', '127.0.0.1:0', '--secret-file', SECRET, '--transfer-apply-mbps', '0'], code: 64, message: /^twinstep secondary: bad pair settings \(--transfer-apply-mbps\)/ },
    ];
    it('each gives one clear line on stderr and its exit code (64 record, 2 replay)', async () => {
      const results = await pool(cases, 4, (c) => cli.run(c.args));
      results.forEach((r, i) => {
        const c = cases[i];
        const ctx = `twinstep ${c.args.join(' ')}\n${show(r)}`;
        expect(r.code, ctx).to.equal(c.code);
        expect(r.stderr.split('\n')[0], ctx).to.match(c.message);
        expect(r.stderr, ctx).to.not.match(/internal error|\n\s+at /);
        if (c.args[0] !== 'frobnicate') expect(r.stderr.trim().split('\n'), ctx).to.have.length(1);
      });
    });
  });
});

/** Runs `twinstep ARGS` and closes the reading end of its stdout at the first bytes, as `| head -c1` would. */
function closedAfterFirstOutput(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [TWINSTEP, ...args], { cwd: ROOT, env: cli.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.once('data', (d: Buffer) => {
      stdout = d.toString();
      p.stdout.destroy();
    });
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * Runs `twinstep ARGS` and sends `sig` once stdout shows `after` (or `delayMs` after the start when `after` is
 * undefined); stdin stays open and empty. Resolves when the process ended.
 */
function signalRecorder(trace: string, sig: NodeJS.Signals, args: string[], after: string | undefined, delayMs = 0): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [TWINSTEP, ...args], { cwd: ROOT, env: cli.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    const send = () => {
      if (!sent) sent = p.kill(sig);
    };
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (after !== undefined && stdout.includes(after)) send();
    });
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = after === undefined ? setTimeout(send, delayMs) : undefined;
    p.on('error', reject);
    p.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr: stderr + (sent ? '' : `\n(${sig} was never sent for ${trace})`) });
    });
  });
}

/** Starts `record` of ticker 200 5 and sends SIGKILL `delayMs` after its first tick (unless it ends first). *//** Starts `record` of ticker 200 5 and sends SIGKILL `delayMs` after its first tick (unless it ends first). */
function killRecorderAfter(trace: string, delayMs: number): Promise<{ killed: boolean; ticks: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [TWINSTEP, 'record', '-o', trace, TICKER, '200', '5'], { cwd: ROOT, env: cli.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let timer: NodeJS.Timeout | undefined;
    let killed = false;
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (!timer && out.includes('tick 1\n')) {
        timer = setTimeout(() => {
          killed = p.kill('SIGKILL');
        }, delayMs);
      }
    });
    p.stderr.resume();
    p.on('error', reject);
    p.on('close', (_code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ killed: killed && signal === 'SIGKILL', ticks: (out.match(/tick \d+\n/g) ?? []).length });
    });
  });
}
