/**
 * Writes the committed trace fixture for the CURRENT format version: spec/fixtures/trace-v<N>.twt plus
 * trace-v<N>.json (its expected content, for spec/log/fixture.spec.ts).
 *
 *   tsx scripts/fixtures.ts           write if absent
 *   tsx scripts/fixtures.ts --force   overwrite (only while version N is unreleased!)
 *
 * Fixtures of released versions are FROZEN: they prove that old traces stay readable, so they are never
 * regenerated; a format change bumps the version and adds a new fixture next to the old ones.
 * Deterministic content (no clock, no randomness), so regenerating an unreleased fixture is reproducible.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EntryKind, type LogEntry } from '../engine/log/entry.ts';
import { TraceWriter } from '../engine/log/trace-writer.ts';
import type { TraceHeaderData } from '../engine/log/trace-header.ts';
import { traceFormatVersion } from '../engine/log/version.ts';
import { encodeSnapshot, type SnapshotData } from '../engine/checkpoint/snapshot-codec.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'spec', 'fixtures');

const le = (bytes: number, v: bigint): Uint8Array => {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return out;
};
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const none = new Uint8Array(0);

function entries(firstSeq: number, firstCall: number): LogEntry[] {
  const raw: Omit<LogEntry, 'seq'>[] = [
    { callIndex: 0, kind: EntryKind.Input, call: 'clock_time_get', channel: 0, request: Uint8Array.from([...le(4, 0n), ...le(8, 1000n)]), data: le(8, 1_700_000_000_123_456_789n) },
    { callIndex: 1, kind: EntryKind.Input, call: 'random_get', channel: 0, request: le(4, 16n), data: Uint8Array.from({ length: 16 }, (_, i) => (i * 29 + 7) & 0xff) },
    { callIndex: 3, kind: EntryKind.Output, call: 'fd_write', channel: 1, request: none, data: text('hello, trace v1\n') },
    { callIndex: 4, kind: EntryKind.Input, call: 'fd_read', channel: 0, request: Uint8Array.from([...le(4, 0n), ...le(4, 64n)]), data: text('stdin line\n') },
    { callIndex: 4, kind: EntryKind.Digest, call: '', channel: 0, request: none, data: le(8, 0x0123456789abcdefn) },
    { callIndex: 5, kind: EntryKind.Input, call: 'poll_oneoff', channel: 0, request: Uint8Array.from([1, 2, 3, 4]), data: Uint8Array.from([5, 6, 7, 8, 9]) },
    { callIndex: 6, kind: EntryKind.Input, call: 'sched_yield', channel: 0, request: none, data: none },
    { callIndex: 7, kind: EntryKind.Output, call: 'fd_write', channel: 2, request: none, data: text('warning: ünïcode ✓\n') },
    { callIndex: 9, kind: EntryKind.Input, call: 'custom_device_read', channel: 0, request: le(2, 7n), data: le(4, 42n) },
    { callIndex: 300, kind: EntryKind.Input, call: 'clock_time_get', channel: 0, request: Uint8Array.from([...le(4, 1n), ...le(8, 0n)]), data: le(8, 987_654_321n) },
    // Format 2: repeated clock reads (the request left out, the value as a difference: one small, one that goes
    // back, one too far for a difference of under 8 bytes), and a random_get repeating its request.
    { callIndex: 301, kind: EntryKind.Input, call: 'clock_time_get', channel: 0, request: Uint8Array.from([...le(4, 1n), ...le(8, 0n)]), data: le(8, 987_655_000n) },
    { callIndex: 302, kind: EntryKind.Input, call: 'clock_time_get', channel: 0, request: Uint8Array.from([...le(4, 1n), ...le(8, 0n)]), data: le(8, 987_654_999n) },
    { callIndex: 303, kind: EntryKind.Input, call: 'clock_time_get', channel: 0, request: Uint8Array.from([...le(4, 1n), ...le(8, 0n)]), data: le(8, 0xfedcba9876543210n) },
    { callIndex: 304, kind: EntryKind.Input, call: 'random_get', channel: 0, request: le(4, 16n), data: Uint8Array.from({ length: 16 }, (_, i) => (i * 31 + 3) & 0xff) },
    { callIndex: 305, kind: EntryKind.Input, call: 'random_get', channel: 0, request: le(4, 16n), data: Uint8Array.from({ length: 16 }, (_, i) => (i * 37 + 5) & 0xff) },
    { callIndex: 306, kind: EntryKind.Output, call: 'proc_exit', channel: -1, request: none, data: le(4, 3n) },
  ];
  return raw.map((e, i) => ({ ...e, seq: firstSeq + i, callIndex: firstCall + e.callIndex }));
}

export const fixtureSnapshot: SnapshotData = {
  vmId: 'fixture-vm',
  moduleHash: 0xdeadbeefcafef00dn,
  moduleBytes: Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]),
  config: { args: ['guest.wasm', 'a b'], env: ['HOME=/'], preopens: [{ host: '/srv/in', guest: '/in' }], clockResolutionNs: 1000n, bootTimeNs: 1_600_000_000_000_000_000n, unwind: 'all' },
  callIndex: 50,
  memoryPages: 0,
  memory: new Uint8Array(0),
  pageDigests: new BigUint64Array(0),
  globals: [{ index: 0, type: 'i32', bits: 65536n }, { index: 1, type: 'f64', bits: 0x400921fb54442d18n }],
  asyncifyStack: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
  fsTimeNs: 1_600_000_000_500_000_000n,
  wasi: {
    inodes: [
      { ino: 1n, kind: 1, entries: [{ name: 'f.txt', ino: 2n }, { name: 'link', ino: 3n }], parent: 1n, nlink: 2n, atimNs: 1n, mtimNs: 2n, ctimNs: 3n },
      { ino: 2n, kind: 0, data: text('file content'), nlink: 1n, atimNs: 4n, mtimNs: 5n, ctimNs: 6n },
      { ino: 3n, kind: 2, target: 'f.txt', nlink: 1n, atimNs: 7n, mtimNs: 8n, ctimNs: 9n },
    ],
    fds: [
      { fd: 0, target: 0, rightsBase: 0x1n, rightsInheriting: 0n, flags: 0, offset: 0n },
      { fd: 3, target: 3, ino: 1n, preopen: '/in', rightsBase: 0x1fffffffn, rightsInheriting: 0x1fffffffn, flags: 0, offset: 0n },
      { fd: 4, target: 3, ino: 2n, rightsBase: 0x2n, rightsInheriting: 0n, flags: 1, offset: 5n },
    ],
    nextIno: 4n,
    mounts: [{ guest: '/in', ino: 1n }],
  },
};

export const fixtureHeader: TraceHeaderData = {
  vmId: 'fixture-vm',
  moduleHash: 0xdeadbeefcafef00dn,
  moduleSizeBytes: 8,
  args: ['guest.wasm', 'a b'],
  env: ['HOME=/'],
  preopens: [{ host: '/srv/in', guest: '/in' }],
  diskDigest: 0x1122334455667788n,
  machine: { clockResolutionNs: 1000n, bootTimeNs: 1_600_000_000_000_000_000n, unwind: 'all', digestIntervalCalls: 100, digestIntervalMs: 0 },
  start: { callIndex: 50, seq: 20, checksum: 0xabcdef0123456789n, snapshot: true },
  createdBy: 'twinstep fixture',
};

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function main(): void {
  const base = join(dir, `trace-v${traceFormatVersion}`);
  if (existsSync(`${base}.twt`) && !process.argv.includes('--force')) {
    console.error(`${base}.twt exists; fixtures of released versions are frozen (use --force only for an unreleased version)`);
    process.exit(1);
  }
  const list = entries(fixtureHeader.start.seq, fixtureHeader.start.callIndex);
  const chunks: Uint8Array[] = [];
  const w = new TraceWriter({ write: (b) => chunks.push(b.slice()) }, fixtureHeader, { batchEntriesMax: 4, fsync: 'none', snapshot: encodeSnapshot(fixtureSnapshot) });
  for (const e of list) w.append(e);
  w.close();
  writeFileSync(`${base}.twt`, Buffer.concat(chunks));
  const expected = {
    formatVersion: traceFormatVersion,
    header: JSON.parse(JSON.stringify(fixtureHeader, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))),
    snapshot: { vmId: fixtureSnapshot.vmId, callIndex: fixtureSnapshot.callIndex, inodes: fixtureSnapshot.wasi.inodes.length, fds: fixtureSnapshot.wasi.fds.length },
    entries: list.map((e) => ({ seq: e.seq, callIndex: e.callIndex, kind: e.kind, call: e.call, channel: e.channel, request: hex(e.request), data: hex(e.data) })),
  };
  writeFileSync(`${base}.json`, JSON.stringify(expected, null, 2) + '\n');
  console.log(`wrote ${base}.twt (${w.stats.bytesTotal} bytes, ${list.length} entries) and ${base}.json`);
}

main();
