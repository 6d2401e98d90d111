/**
 * The replay reports from real in-process replays: the text report's hexdump diff and context, the JSON
 * report's fields, and the JUnit XML's structure (checked by a small well-formedness parser, not by regex
 * alone), including escaping of hostile bytes in messages.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { EntryKind } from '../../engine/log/entry.ts';
import { singleFault } from '../../replay/fault.ts';
import { textReport, textReports } from '../../replay/report/text.ts';
import { jsonReport, jsonReports } from '../../replay/report/json.ts';
import { junitReport, junitReports } from '../../replay/report/junit.ts';
import { hexdumpDiff } from '../../replay/report/hexdump.ts';
import type { ReplayReport, TraceResult } from '../../replay/report/model.ts';
import { EXAMPLE_GUESTS, GUEST_DIR } from '../support/guests.ts';
import { recordGuest, replayEntries, reportOf, withEntry, type Recording } from './support.ts';
import { findAll, parseXml } from './xml.ts';

const SEED = Number(process.env.REPLAY_SEED ?? 20240611) + 500;
const LINES = EXAMPLE_GUESTS.find((g) => g.name === 'c/lines')!;
const HOSTCALLS = EXAMPLE_GUESTS.find((g) => g.name === 'c/hostcalls')!;
const LINES_V2 = join(GUEST_DIR, 'c/lines-v2.wasm');
const LINES_SPLIT = join(GUEST_DIR, 'c/lines-split.wasm');

describe('replay reports', function () {
  this.timeout(120_000);
  let rec: Recording;
  let differential: ReplayReport;
  let keepGoing: ReplayReport;
  let digest: ReplayReport;
  let identical: ReplayReport;
  let digestCompared: number;
  /** The digest mismatch as if a new build had been replayed. */
  let digestDifferential: ReplayReport;
  /** lines-split (each line in two writes) replayed by calls against lines. */
  let split: ReplayReport;

  before(async () => {
    rec = await recordGuest(LINES, { seed: SEED });
    const v2 = await replayEntries(LINES_V2, rec);
    differential = reportOf(v2, '/ci/traces/lines.twt', LINES_V2, 'c8009c8b76d000f8', '4233f602ee6453ac');
    const outs = rec.entries.filter((e) => e.kind === EntryKind.Output && e.channel >= 0);
    const tampered = new Set([outs[2].seq, outs[5].seq]);
    const kg = await replayEntries(LINES.path, { ...rec, entries: rec.entries.map((e) => (tampered.has(e.seq) ? withEntry(e, { data: Buffer.from('changed <&> "line"\n') }) : e)) }, { keepGoing: true });
    keepGoing = reportOf(kg, 'lines.twt', LINES.path);
    const hc = await recordGuest(HOSTCALLS, { seed: SEED, digestEveryCalls: 10 });
    const d = await replayEntries(HOSTCALLS.path, hc, { fault: singleFault('memory', 25, 5 * 4096 + 7) });
    digest = reportOf(d, 'hostcalls.twt', HOSTCALLS.path);
    digestCompared = d.replayer.digestCounts.compared;
    digestDifferential = reportOf(d, 'hostcalls.twt', '/ci/build-2/hostcalls.wasm', 'c8009c8b76d000f8', '4233f602ee6453ac');
    identical = reportOf(await replayEntries(LINES.path, rec), 'lines.twt', LINES.path);
    split = reportOf(await replayEntries(LINES_SPLIT, rec), 'lines.twt', LINES_SPLIT, 'c8009c8b76d000f8', 'e5cf38070cda5004');
  });

  describe('text', () => {
    it('names the divergence, shows a hexdump diff of expected vs actual, and the entries before it', () => {
      const t = textReport(differential);
      expect(t).to.include('DIFFERENTIAL REPLAY: module 4233f602ee6453ac replayed against a recording of module c8009c8b76d000f8');
      expect(t).to.include('result: DIVERGED after 7 entries');
      expect(t).to.include('divergence 1: output-mismatch at entry #6 (host call 7)');
      expect(t).to.include('first difference at byte 8 (expected 11 bytes, got 13)');
      const lines = t.split('\n');
      const exp = lines.findIndex((l) => l.includes('! 00000000  expected 6c 69 6e 65 20 37 3a 20 34 39 0a'));
      expect(exp, t).to.be.greaterThan(0);
      expect(lines[exp + 1]).to.match(/actual +6c 69 6e 65 20 37 3a 20 31 30 34 39 0a +\|line 7: 1049\. +\|/);
      expect(t).to.include('recorded entry:\n    #6 call 7 output fd_write channel 1 11 bytes "line 7: 49\\n"');
      const ctx = t.slice(t.indexOf('entries before it:'));
      for (let s = 1; s <= 5; s++) expect(ctx).to.include(`#${s} call ${s + 1} output fd_write channel 1`);
      expect(ctx).to.not.include('#0 ');
    });

    it('an identical replay says so and shows no divergence', () => {
      const t = textReport(identical);
      expect(t).to.match(/result: IDENTICAL after \d+ entries/);
      expect(t).to.not.match(/divergence|DIFFERENTIAL/);
    });

    it('a digest mismatch lists the differing memory page', () => {
      const t = textReport(digest);
      expect(t).to.include('digest-mismatch');
      expect(t).to.include('memory pages differing: 1: 5 (0x5000)');
    });

    it('says how many state digests were compared and against what', () => {
      expect(digestCompared).to.be.greaterThan(0);
      expect(textReport(digest)).to.include(`  state digests: ${digestCompared} compared (memory, globals, device state and files)\n`);
      // lines was recorded without a digest interval: only the final digest, at the exit.
      expect(textReport(identical)).to.include('  state digests: 1 compared (memory, globals, device state and files)\n');
      expect(textReport({ ...identical, digests: { mode: 'full', compared: 0, skipped: 0 } })).to.include('  state digests: none reached\n');
      expect(textReport({ ...identical, digests: { mode: 'files', compared: 4, skipped: 2 } })).to.include('state digests: 4 compared (file contents only), 2 carried the root only and were skipped');
      expect(textReport({ ...identical, digests: { mode: 'off', compared: 0, skipped: 9 } })).to.include('state digests: 9 not compared (--digests off)');
    });

    it('points a differential replay whose first output is a piece of the recorded one to --match stream', () => {
      expect(split.divergences[0]).to.deep.include({ kind: 'output-mismatch', seq: 0 });
      expect(textReport(split)).to.match(/\nhint: the new build writes these bytes in other pieces: --match stream compares outputs as one byte stream per channel, and inputs in recorded order\n$/);
      expect(JSON.parse(jsonReport(split)).hint).to.match(/^the new build writes these bytes in other pieces/);
      // Not for the same build, nor once replayed by streams.
      expect(textReport({ ...split, replayedModuleHash: split.recordedModuleHash })).to.not.include('hint:');
      expect(textReport({ ...split, match: 'stream' })).to.not.include('hint:');
    });

    it('points a differential replay that parted only at a digest to --digests files, and nobody else', () => {
      const t = textReport(digestDifferential);
      expect(t).to.match(/\nhint: a new build lays out its memory differently even when it behaves the same: --digests files compares only the files of the virtual disk, --digests off only calls and outputs\n$/);
      for (const r of [digest, differential, identical, { ...digestDifferential, digests: { mode: 'files' as const, compared: 1, skipped: 0 } }]) expect(textReport(r)).to.not.include('hint:');
    });

    it('keep-going lists every divergence in order', () => {
      const t = textReport(keepGoing);
      expect(t).to.include('divergence 1: output-mismatch at entry #2');
      expect(t).to.include('divergence 2: output-mismatch at entry #5');
      expect(t).to.not.include('divergence 3');
    });

    it('hexdump marks only the rows that differ and reports a length change', () => {
      const a = Buffer.from('0123456789abcdef'.repeat(4));
      const b = Buffer.from(a);
      b[37] = 0x58;
      const h = hexdumpDiff(a, b).split('\n');
      expect(h[0]).to.include('first difference at byte 37 (expected 64 bytes, got 64)');
      expect(h.filter((l) => l.startsWith('  !'))).to.have.length(1);
      expect(h.find((l) => l.startsWith('  !'))).to.include('00000020');
      expect(hexdumpDiff(a, a)).to.include('identical bytes');
      expect(hexdumpDiff(a, a.subarray(0, 60))).to.include('first difference at byte 60 (expected 64 bytes, got 60)');
    });
  });

  describe('JSON', () => {
    it('parses and names the entry, the kind and the differential build', () => {
      const j = JSON.parse(jsonReport(differential));
      expect(j).to.deep.include({ format: 'twinstep-replay-report', version: 1, status: 'diverged', differential: true, entries: 7, callIndex: 7 });
      expect(j.divergences).to.have.length(1);
      const d = j.divergences[0];
      expect(d).to.deep.include({ kind: 'output-mismatch', seq: 6, callIndex: 7, firstDifferingByte: 8 });
      expect(d.expected).to.deep.include({ seq: 6, callIndex: 7, kind: 'output', call: 'fd_write', channel: 1 });
      expect(d.expected.data).to.deep.equal({ hex: Buffer.from('line 7: 49\n').toString('hex'), text: 'line 7: 49\n', length: 11 });
      expect(d.actual.data.text).to.equal('line 7: 1049\n');
      expect(d.context.map((c: { seq: number }) => c.seq)).to.deep.equal([1, 2, 3, 4, 5]);
    });

    it('an identical replay is not differential and has no divergences', () => {
      const j = JSON.parse(jsonReport(identical));
      expect(j).to.deep.include({ status: 'identical', differential: false, divergences: [] });
    });

    it('a digest mismatch carries the state difference', () => {
      const j = JSON.parse(jsonReport(digest));
      expect(j.divergences[0].kind).to.equal('digest-mismatch');
      expect(j.divergences[0].state).to.deep.equal({ pages: [5], files: [], devices: false });
      expect(j.divergences[0].expected.kind).to.equal('digest');
      expect(j.digests).to.deep.equal({ mode: 'full', compared: digestCompared, skipped: 0 });
      expect(j.hint).to.equal(undefined);
      expect(JSON.parse(jsonReport(digestDifferential)).hint).to.match(/^a new build lays out its memory differently/);
    });
  });

  describe('JUnit XML', () => {
    it('is well-formed: one testsuite, one testcase, one failure with type and message', () => {
      const doc = parseXml(junitReport(differential));
      expect(doc.name).to.equal('testsuites');
      expect(doc.attrs).to.deep.include({ tests: '1', failures: '1', errors: '0' });
      const suites = findAll(doc, 'testsuite');
      expect(suites).to.have.length(1);
      expect(suites[0].attrs).to.deep.include({ name: 'lines.twt', tests: '1', failures: '1' });
      const cases = findAll(doc, 'testcase');
      expect(cases).to.have.length(1);
      expect(cases[0].attrs.classname).to.equal('twinstep.replay');
      const failures = findAll(doc, 'failure');
      expect(failures).to.have.length(1);
      expect(failures[0].attrs.type).to.equal('output-mismatch');
      expect(failures[0].attrs.message).to.match(/^entry #6, host call 7: fd_write at host call 7 wrote different bytes/);
      const out = findAll(doc, 'system-out');
      expect(out).to.have.length(1);
      expect(out[0].text).to.include('first difference at byte 8');
      expect(Number(doc.attrs.time)).to.be.a('number').and.not.NaN;
    });

    it('keep-going: one failure per divergence; hostile bytes are escaped', () => {
      const xml = junitReport(keepGoing);
      const doc = parseXml(xml);
      const failures = findAll(doc, 'failure');
      expect(failures.map((f) => f.attrs.type)).to.deep.equal(['output-mismatch', 'output-mismatch']);
      expect(failures.every((f) => /^entry #\d+, host call \d+: /.test(f.attrs.message))).to.equal(true);
      expect(findAll(doc, 'system-out')[0].text).to.include('"changed <&> \\"line\\"\\n"');
    });

    it('a divergence past the recorded entries names its host call, never an entry #-1 (text, JSON, JUnit)', () => {
      const d = { ...differential.divergences[0], kind: 'extra-call' as const, seq: -1, callIndex: 12, message: 'the guest made fd_write at host call 12, after the end of the recording' };
      const r = { ...differential, divergences: [d] };
      expect(textReport(r)).to.include('divergence 1: extra-call at host call 12 (no recorded entry)');
      expect(JSON.parse(jsonReport(r)).divergences[0].seq).to.equal(null);
      expect(findAll(parseXml(junitReport(r)), 'failure')[0].attrs.message).to.match(/^host call 12 \(no recorded entry\): the guest made/);
      for (const t of [textReport(r), jsonReport(r), junitReport(r)]) expect(t).not.to.include('#-1');
    });

    it('survives control characters and markup in messages', () => {
      const d = { ...differential.divergences[0], message: 'bad \u0001\u001b[31m <tag attr="x"> & ]]> \u0000end' };
      const doc = parseXml(junitReport({ ...differential, trace: 'we<ird>&"name".twt', divergences: [d] }));
      const f = findAll(doc, 'failure')[0];
      expect(f.attrs.message).to.include('<tag attr="x"> & ]]>');
      expect(findAll(doc, 'testsuite')[0].attrs.name).to.equal('we<ird>&"name".twt');
    });

    it('an identical replay has no failure; an incomplete one has an error', () => {
      const ok = parseXml(junitReport(identical));
      expect(findAll(ok, 'failure')).to.have.length(0);
      expect(findAll(ok, 'error')).to.have.length(0);
      expect(ok.attrs).to.deep.include({ failures: '0', errors: '0' });
      const torn = parseXml(junitReport({ ...identical, status: 'incomplete', traceTail: 'torn tail at byte 99: cut <short>' }));
      const errs = findAll(torn, 'error');
      expect(errs).to.have.length(1);
      expect(errs[0].attrs).to.deep.equal({ type: 'incomplete', message: 'torn tail at byte 99: cut <short>' });
      expect(torn.attrs.errors).to.equal('1');
    });

    it('the checker rejects what is not well-formed', () => {
      expect(() => parseXml('<a><b></a></b>')).to.throw();
      expect(() => parseXml('<a x="1" x="2"/>')).to.throw(/duplicate/);
      expect(() => parseXml('<a>x & y</a>')).to.throw(/bare/);
      expect(() => parseXml('<a x="<"/>')).to.throw();
      expect(() => parseXml('<a>\u0001</a>')).to.throw(/control/);
      expect(() => parseXml('<a/><b/>')).to.throw(/root/);
    });
  });

  describe('several traces', () => {
    const several = (): TraceResult[] => [
      identical,
      differential,
      { trace: '/ci/traces/gone.twt', status: 'unusable', message: "cannot read trace '/ci/traces/gone.twt': no such file" },
      { ...identical, trace: 'torn.twt', status: 'incomplete', traceTail: 'torn tail at byte 1234: frame cut short' },
    ];

    it('text: each report in turn, an unusable trace with its reason, then the totals', () => {
      const t = textReports(several());
      expect(t.indexOf('twinstep replay: lines.twt')).to.be.lessThan(t.indexOf('twinstep replay: /ci/traces/lines.twt'));
      expect(t).to.include(textReport(differential));
      expect(t).to.include("twinstep replay: /ci/traces/gone.twt\n  result: UNUSABLE: cannot read trace '/ci/traces/gone.twt': no such file\n");
      expect(t).to.match(/\n4 traces: 1 identical, 1 diverged, 1 incomplete, 1 unusable\n$/);
    });

    it('JSON: the totals, and per trace what its own report says', () => {
      const j = JSON.parse(jsonReports(several()));
      expect(j).to.deep.include({ format: 'twinstep-replay-reports', version: 1, totals: { traces: 4, identical: 1, diverged: 1, incomplete: 1, unusable: 1 } });
      expect(j.traces).to.have.length(4);
      expect(j.traces[1]).to.deep.equal(JSON.parse(jsonReport(differential)));
      expect(j.traces[2]).to.deep.equal({ trace: '/ci/traces/gone.twt', status: 'unusable', message: "cannot read trace '/ci/traces/gone.twt': no such file" });
      expect(j.traces[3]).to.deep.include({ status: 'incomplete', traceTail: 'torn tail at byte 1234: frame cut short' });
    });

    it('JUnit: one suite, a test case per trace in order; a failure for the divergence, errors for the damaged and the unusable', () => {
      const doc = parseXml(junitReports(several()));
      expect(doc.attrs).to.deep.include({ tests: '4', failures: '1', errors: '2' });
      const suites = findAll(doc, 'testsuite');
      expect(suites).to.have.length(1);
      expect(suites[0].attrs).to.deep.include({ name: 'twinstep replay', tests: '4', failures: '1', errors: '2' });
      const cases = findAll(doc, 'testcase');
      // Two traces named lines.twt: each is called by its path as given.
      expect(cases.map((c) => c.attrs.name)).to.deep.equal([
        `replay lines.twt with ${LINES.path}`,
        `replay /ci/traces/lines.twt with ${LINES_V2}`,
        'replay gone.twt',
        `replay torn.twt with ${LINES.path}`,
      ]);
      expect(findAll(cases[1]!, 'failure').map((f) => f.attrs.type)).to.deep.equal(['output-mismatch']);
      expect(findAll(cases[2]!, 'error').map((f) => [f.attrs.type, f.attrs.message])).to.deep.equal([['unusable', "cannot read trace '/ci/traces/gone.twt': no such file"]]);
      expect(findAll(cases[3]!, 'error').map((f) => f.attrs.type)).to.deep.equal(['incomplete']);
      expect(findAll(cases[0]!, 'failure').length + findAll(cases[0]!, 'error').length).to.equal(0);
    });

    it('JUnit: every test case has a name of its own (same file names in other directories, a trace given twice)', () => {
      const a = { ...identical, trace: 'nightly/a/run.twt' };
      const b = { ...identical, trace: 'nightly/b/run.twt' };
      const names = findAll(parseXml(junitReports([a, b, a, { ...identical, trace: 'other.twt' }])), 'testcase').map((c) => c.attrs.name);
      expect(names).to.deep.equal([
        `replay nightly/a/run.twt (#1) with ${LINES.path}`,
        `replay nightly/b/run.twt with ${LINES.path}`,
        `replay nightly/a/run.twt (#2) with ${LINES.path}`,
        `replay other.twt with ${LINES.path}`,
      ]);
      expect(new Set(names).size).to.equal(names.length);
    });
  });
});
