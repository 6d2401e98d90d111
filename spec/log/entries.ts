/** Test helpers: realistic log entries and fast-check arbitraries for them. */
import fc from 'fast-check';
import { expect } from 'chai';
import { decodeEntryBatch } from '../../engine/log/entry-codec.ts';
import { LogFormatError } from '../../engine/log/errors.ts';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import type { TraceHeaderData } from '../../engine/log/trace-header.ts';

/** clock_time_get: request = clock id u32 + precision u64 (12 bytes), data = timestamp u64. */
export function clockEntry(seq: number, callIndex: number, ns: bigint): LogEntry {
  const request = new Uint8Array(12);
  new DataView(request.buffer).setUint32(0, 1, true);
  const data = new Uint8Array(8);
  new DataView(data.buffer).setBigUint64(0, ns, true);
  return { seq, callIndex, kind: EntryKind.Input, call: 'clock_time_get', channel: 0, request, data };
}

/** random_get of `n` bytes: request = length u32, data = the bytes (deterministic filler). */
export function randomEntry(seq: number, callIndex: number, n = 16): LogEntry {
  const request = new Uint8Array(4);
  new DataView(request.buffer).setUint32(0, n, true);
  const data = new Uint8Array(n);
  let x = (seq * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return { seq, callIndex, kind: EntryKind.Input, call: 'random_get', channel: 0, request, data };
}

export function outputEntry(seq: number, callIndex: number, text: string, channel = 1): LogEntry {
  return { seq, callIndex, kind: EntryKind.Output, call: 'fd_write', channel, request: new Uint8Array(0), data: new TextEncoder().encode(text) };
}

export function digestEntry(seq: number, callIndex: number, digest: bigint): LogEntry {
  const data = new Uint8Array(8);
  new DataView(data.buffer).setBigUint64(0, digest, true);
  return { seq, callIndex, kind: EntryKind.Digest, call: '', channel: 0, request: new Uint8Array(0), data };
}

/**
 * Flips each byte of an encoded batch in turn (one bit) and decodes it: every flip must be refused with a
 * LogFormatError or decode to the same content (`view` of the entries equal to `original`: the flip hit padding
 * or an unused byte). Returns how many flips the hash chain caught (E_CHAIN). `msg` prefixes failures.
 */
export function flipEachByte(bytes: Uint8Array, view: (entries: readonly LogEntry[]) => unknown, original: unknown, msg = ''): number {
  let chainErrors = 0;
  for (let i = 0; i < bytes.length; i++) {
    const bad = bytes.slice();
    bad[i]! ^= 0x01;
    try {
      expect(view(decodeEntryBatch(bad).entries), `${msg}byte ${i} flipped`).to.deep.equal(original);
    } catch (err) {
      if (!(err instanceof LogFormatError)) throw err;
      if (err.code === 'E_CHAIN') chainErrors++;
    }
  }
  return chainErrors;
}

/** A deterministic mixed workload: mostly clock/random, some output, a digest every 64 calls. */
export function mixedEntries(count: number, firstSeq = 0, firstCallIndex = 0): LogEntry[] {
  const out: LogEntry[] = [];
  let call = firstCallIndex;
  for (let i = 0; i < count; i++) {
    const seq = firstSeq + i;
    const r = i % 10;
    if (i % 64 === 63) out.push(digestEntry(seq, call, BigInt(seq) * 0x9e3779b97f4a7c15n & 0xffffffffffffffffn));
    else if (r < 5) out.push(clockEntry(seq, call, 1_700_000_000_000_000_000n + BigInt(i) * 1000n));
    else if (r < 8) out.push(randomEntry(seq, call, 16));
    else out.push(outputEntry(seq, call, `line ${i}\n`, r === 8 ? 1 : 2));
    call += i % 3;
  }
  return out;
}

/** Arbitrary valid entry "shape" (seq/callIndex assigned by entriesArb). */
const shapeArb = fc.oneof(
  fc.record({
    kind: fc.constant(EntryKind.Input),
    call: fc.oneof(fc.constantFrom('clock_time_get', 'random_get', 'fd_read', 'poll_oneoff', 'sched_yield'), fc.string({ minLength: 1, maxLength: 12 })),
    channel: fc.constant(0),
    request: fc.uint8Array({ maxLength: 40 }),
    data: fc.uint8Array({ maxLength: 300 }),
  }),
  fc.record({
    kind: fc.constant(EntryKind.Output),
    call: fc.constantFrom('fd_write', 'proc_exit', 'fd_pwrite'),
    channel: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
    request: fc.uint8Array({ maxLength: 8 }),
    data: fc.uint8Array({ maxLength: 300 }),
  }),
  fc.record({
    kind: fc.constant(EntryKind.Digest),
    call: fc.constant(''),
    channel: fc.constant(0),
    request: fc.constant(new Uint8Array(0)),
    data: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  }),
);

/** Arbitrary consecutive run of valid entries. */
export const entriesArb = fc
  .record({
    firstSeq: fc.integer({ min: 0, max: 2 ** 40 }),
    firstCall: fc.integer({ min: 0, max: 2 ** 40 }),
    items: fc.array(fc.tuple(shapeArb, fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 2 ** 30 }))), { maxLength: 60 }),
  })
  .map(({ firstSeq, firstCall, items }) => {
    let call = firstCall;
    return items.map(([shape, delta], i): LogEntry => {
      call += delta;
      return { seq: firstSeq + i, callIndex: call, ...shape };
    });
  });

/** Plain comparable form (Uint8Array subarray views compare badly with deep equal). */
export function plain(e: LogEntry): object {
  return { ...e, request: Array.from(e.request), data: Array.from(e.data) };
}

/** Fixed seed for property tests; printed by fast-check on failure together with the counterexample path. */
export const propertySeed = Number(process.env.FC_SEED ?? 20240611);

/** A trace header with every field set to something non-default. */
export const testHeader: TraceHeaderData = {
  vmId: 'vm-test',
  moduleHash: 0x0123456789abcdefn,
  moduleSizeBytes: 4242,
  args: ['guest.wasm', '--flag', 'ünïcode'],
  env: ['A=1', 'B=two'],
  preopens: [{ host: '/tmp/data', guest: '/data' }],
  diskDigest: 0xfeedfacecafebeefn,
  machine: { clockResolutionNs: 1000n, bootTimeNs: 1_700_000_000_000_000_000n, unwind: 'all', digestIntervalCalls: 1000, digestIntervalMs: 50 },
  start: { callIndex: 0, seq: 0, checksum: 0n, snapshot: false },
  createdBy: 'twinstep test',
};
