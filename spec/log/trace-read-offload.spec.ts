/**
 * Replay with the decoding on the decoder thread (engine/log/trace-read-offload.ts): a reader that hands its
 * batches over must serve exactly the entries, tail and statistics of a reader that decodes them itself,
 * whether the thread takes over at the first batch or in the middle, and whatever the trace's damage.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { TraceWriter } from '../../engine/log/trace-writer.ts';
import { TraceReader, type TraceTail } from '../../engine/log/trace-reader.ts';
import type { TraceHeaderData } from '../../engine/log/trace-header.ts';
import { seededRandom } from '../support/seeded-random.ts';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startHelperThread } from '../../engine/log/helper-threads.ts';
import { OFFLOAD_COLD_MIN_BYTES, OFFLOAD_MIN_BYTES } from '../../engine/log/trace-read-offload.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const header: TraceHeaderData = {
  vmId: 'decode', moduleHash: 7n, moduleSizeBytes: 0, args: ['g'], env: [], preopens: [], diskDigest: 0n,
  machine: { clockResolutionNs: 1000n, bootTimeNs: 0n, unwind: 'all', digestIntervalCalls: 0, digestIntervalMs: 0 },
  start: { callIndex: 0, seq: 0, checksum: 0n, snapshot: false },
};

/** A seeded trace of `total` entries: clock and random inputs, outputs, digests, custom calls. */
function writeTrace(path: string, seed: number, total: number): void {
  const rand = seededRandom(seed);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
  const w = TraceWriter.create(path, header, { fsync: 'none' });
  for (let i = 0; i < total; i++) {
    const r = rand();
    if (r < 0.6) w.add(EntryKind.Input, i, 'clock_time_get', 0, Uint8Array.of(1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0), bytes(8));
    else if (r < 0.8) w.add(EntryKind.Input, i, 'random_get', 0, Uint8Array.of(16, 0, 0, 0), bytes(16));
    else if (r < 0.9) w.add(EntryKind.Output, i, 'fd_write', 1, new Uint8Array(0), bytes(1 + Math.floor(rand() * 200)));
    else if (r < 0.95) w.add(EntryKind.Digest, i, '', 0, new Uint8Array(0), bytes(8));
    else w.add(EntryKind.Input, i, `machine_call_${Math.floor(rand() * 3)}`, 0, bytes(3), bytes(5));
  }
  w.close();
}

interface Read {
  entries: LogEntry[];
  tail: TraceTail;
  kinds: { entries: readonly number[]; bytes: readonly number[] };
  offloaded: boolean;
}

function read(path: string, decodeThread: boolean): Read {
  const r = TraceReader.open(path, { decodeThread });
  try {
    const entries = [...r];
    return { entries, tail: r.tail, kinds: { entries: [...r.stats.entries], bytes: [...r.stats.bytes] }, offloaded: r.offloaded };
  } finally {
    r.close();
  }
}

function expectSame(a: Read, b: Read, what: string): void {
  expect(a.entries.length, `${what}: entries`).to.equal(b.entries.length);
  for (let i = 0; i < a.entries.length; i++) {
    const x = a.entries[i]!;
    const y = b.entries[i]!;
    expect([x.seq, x.callIndex, x.kind, x.call, x.channel], `${what}: entry ${i}`).to.deep.equal([y.seq, y.callIndex, y.kind, y.call, y.channel]);
    expect(Buffer.compare(x.request, y.request) === 0 && Buffer.compare(x.data, y.data) === 0, `${what}: entry ${i} bytes`).to.equal(true);
  }
  expect(a.tail, `${what}: tail`).to.deep.equal(b.tail);
  expect(a.kinds, `${what}: bytes by kind`).to.deep.equal(b.kinds);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('trace decoding on the decoder thread', function () {
  this.timeout(120_000);
  let dir: string;
  let big: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'twinstep-decode-'));
    big = join(dir, 'big.twt');
    writeTrace(big, 11, 120_000);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the same entries, tail and statistics as in-thread decoding, whether the thread was up when reading began or not', async () => {
    const inThread = read(big, false);
    expect(inThread.tail.state).to.equal('clean');
    expect(inThread.offloaded).to.equal(false);
    // A reader of a trace under OFFLOAD_COLD_MIN_BYTES uses the thread only once it runs (the next test shows
    // that it does not start it). Started now, it boots while the first reader decodes in its own thread.
    startHelperThread('decoder');
    const first = read(big, true);
    expectSame(first, inThread, 'first reader');
    let offloaded = first.offloaded;
    for (let i = 0; i < 500 && !offloaded; i++) {
      await sleep(20);
      offloaded = read(big, true).offloaded;
    }
    expect(offloaded, 'the decoder thread took over').to.equal(true);
    const later = read(big, true);
    expect(later.offloaded).to.equal(true);
    expectSame(later, inThread, 'reader with the thread up');
  });

  it('reports a damaged trace exactly as in-thread decoding does', () => {
    const bytes = readFileSync(big);
    const rand = seededRandom(5);
    const cases: Array<[string, Uint8Array]> = [];
    for (let k = 0; k < 6; k++) {
      const at = Math.floor(bytes.length * (0.2 + 0.75 * rand()));
      const flipped = Uint8Array.from(bytes);
      flipped[at]! ^= 1 << Math.floor(rand() * 8);
      cases.push([`byte ${at} flipped`, flipped]);
    }
    cases.push(['cut at 70%', bytes.subarray(0, Math.floor(bytes.length * 0.7))]);
    cases.push(['end frame missing', bytes.subarray(0, bytes.length - 40)]);
    for (const [what, b] of cases) {
      const path = join(dir, 'damaged.twt');
      writeFileSync(path, b);
      const want = read(path, false);
      expect(want.tail.state, what).to.not.equal('clean');
      const got = read(path, true);
      expect(got.offloaded, `${what}: decoded on the thread`).to.equal(true);
      expectSame(got, want, what);
    }
  });

  it('does not start the thread for a trace under OFFLOAD_COLD_MIN_BYTES: a process with no thread decodes it itself', () => {
    // In a process of its own: in this one, earlier specs started the thread.
    const probe = join(dir, 'probe.ts');
    writeFileSync(probe, [
      `import { TraceReader } from ${JSON.stringify(join(ROOT, 'engine/log/trace-reader.ts'))};`,
      `import { SessionThread } from ${JSON.stringify(join(ROOT, 'engine/log/session-thread.ts'))};`,
      `import { DECODER_BOOT } from ${JSON.stringify(join(ROOT, 'engine/log/helper-threads.ts'))};`,
      `const r = TraceReader.open(${JSON.stringify(big)}, { decodeThread: true });`,
      'let n = 0;',
      'for (const _ of r) n++;',
      'console.log(JSON.stringify({ n, offloaded: r.offloaded, started: SessionThread.started(DECODER_BOOT), tail: r.tail.state }));',
      'r.close();',
    ].join('\n'));
    const p = spawnSync(process.execPath, ['--import', 'tsx', probe], { cwd: ROOT, encoding: 'utf8' });
    expect(p.status, p.stderr).to.equal(0);
    expect(statSync(big).size).to.be.greaterThan(OFFLOAD_MIN_BYTES).and.lessThan(OFFLOAD_COLD_MIN_BYTES);
    expect(JSON.parse(p.stdout)).to.deep.equal({ n: read(big, false).entries.length, offloaded: false, started: false, tail: 'clean' });
  });

  it('leaves short traces to the reader', () => {
    const path = join(dir, 'short.twt');
    writeTrace(path, 3, 500);
    const got = read(path, true);
    expect(got.offloaded).to.equal(false);
    expectSame(got, read(path, false), 'short trace');
  });
});
