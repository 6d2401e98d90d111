import { expect } from 'chai';
import fc from 'fast-check';
import {
  applySnapshotDelta,
  decodeSnapshot,
  encodeSnapshot,
  makeSnapshotDelta,
  snapshotChecksum,
  snapshotEnvelopeBytes,
  type GlobalData,
  type SnapshotData,
} from '../../engine/checkpoint/snapshot-codec.ts';
import { LogFormatError } from '../../engine/log/errors.ts';
import { snapshotFormatVersion } from '../../engine/log/version.ts';
import type { FdData, InodeData } from '../../engine/wasi/state.ts';
import { propertySeed } from '../log/entries.ts';

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

const inodeArb: fc.Arbitrary<InodeData> = fc
  .record(
    {
      ino: u64,
      kind: fc.constantFrom(0, 1, 2),
      data: fc.uint8Array({ maxLength: 100 }),
      // An entry's readdir number only when it is not the canonical one (absent and present must both survive).
      entries: fc.array(fc.record({ name: fc.string({ minLength: 1, maxLength: 10 }), ino: u64, number: u64 }, { requiredKeys: ['name', 'ino'] }), { maxLength: 4 }),
      nextNumber: u64,
      target: fc.string(),
      parent: u64,
      nlink: u64,
      atimNs: u64,
      mtimNs: u64,
      ctimNs: u64,
    },
    { requiredKeys: ['ino', 'kind', 'nlink', 'atimNs', 'mtimNs', 'ctimNs'] },
  )
  .map((r) => r as InodeData);

const fdArb: fc.Arbitrary<FdData> = fc
  .record(
    {
      fd: fc.integer({ min: 0, max: 0xffffffff }),
      target: fc.constantFrom(0, 1, 2, 3),
      ino: u64,
      preopen: fc.string(),
      rightsBase: u64,
      rightsInheriting: u64,
      flags: fc.integer({ min: 0, max: 0xffff }),
      offset: u64,
    },
    { requiredKeys: ['fd', 'target', 'rightsBase', 'rightsInheriting', 'flags', 'offset'] },
  )
  .map((r) => r as FdData);

const globalArb: fc.Arbitrary<GlobalData> = fc.oneof(
  fc.record({ index: fc.nat(1000), type: fc.constantFrom('i32' as const, 'f32' as const), bits: fc.bigInt({ min: 0n, max: 0xffffffffn }) }),
  fc.record({ index: fc.nat(1000), type: fc.constantFrom('i64' as const, 'f64' as const), bits: u64 }),
);

/** Memory with a few non-zero spots (pages: 0..2 wasm pages). */
const snapshotArb: fc.Arbitrary<SnapshotData> = fc
  .record({
    vmId: fc.string(),
    moduleHash: u64,
    moduleBytes: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
    args: fc.array(fc.string(), { maxLength: 3 }),
    env: fc.array(fc.string(), { maxLength: 3 }),
    preopens: fc.array(fc.record({ host: fc.string(), guest: fc.string() }), { maxLength: 2 }),
    clockResolutionNs: u64,
    bootTimeNs: u64,
    unwind: fc.option(fc.constantFrom('all', 'io', 'none', 'fd_read,fd_write'), { nil: undefined }),
    callIndex: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    memoryPages: fc.integer({ min: 0, max: 2 }),
    pokes: fc.array(fc.tuple(fc.nat(2 * 65536 - 1), fc.integer({ min: 1, max: 255 })), { maxLength: 10 }),
    digests: fc.boolean(),
    globals: fc.array(globalArb, { maxLength: 5 }),
    asyncifyStack: fc.uint8Array({ maxLength: 200 }),
    fsTimeNs: u64,
    inodes: fc.array(inodeArb, { maxLength: 4 }),
    fds: fc.array(fdArb, { maxLength: 4 }),
    nextIno: u64,
    mounts: fc.option(fc.array(fc.record({ guest: fc.string(), ino: u64 }), { maxLength: 3 }), { nil: undefined }),
  })
  .map((r): SnapshotData => {
    const memory = new Uint8Array(r.memoryPages * 65536);
    for (const [at, v] of r.pokes) if (at < memory.length) memory[at] = v;
    const pageDigests = new BigUint64Array(r.digests ? r.memoryPages * 16 : 0).map((_, i) => BigInt(i) * 7919n);
    return {
      vmId: r.vmId,
      moduleHash: r.moduleHash,
      ...(r.moduleBytes !== undefined ? { moduleBytes: r.moduleBytes } : {}),
      config: {
        args: r.args,
        env: r.env,
        preopens: r.preopens,
        clockResolutionNs: r.clockResolutionNs,
        bootTimeNs: r.bootTimeNs,
        ...(r.unwind !== undefined ? { unwind: r.unwind } : {}),
      },
      callIndex: r.callIndex,
      memoryPages: r.memoryPages,
      memory,
      pageDigests,
      globals: r.globals,
      asyncifyStack: r.asyncifyStack,
      fsTimeNs: r.fsTimeNs,
      wasi: { inodes: r.inodes, fds: r.fds, nextIno: r.nextIno, ...(r.mounts !== undefined ? { mounts: r.mounts } : {}) },
    };
  });

/** Deep-equal-friendly form (typed arrays to plain arrays). */
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array || v instanceof BigUint64Array) return Array.from(v as ArrayLike<unknown>);
  if (Array.isArray(v)) return v.map(norm);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  return v;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof LogFormatError) return err.code;
    throw err;
  }
  return undefined;
}

describe('snapshot codec', () => {
  it('round-trips full snapshots (property)', () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const bytes = encodeSnapshot(s);
        expect(norm(decodeSnapshot(bytes))).to.deep.equal(norm(s));
      }),
      { seed: propertySeed, numRuns: 60 },
    );
  });

  it('delta form: make, encode, decode, apply gives the full snapshot back (property)', () => {
    fc.assert(
      fc.property(
        snapshotArb.filter((s) => s.memoryPages > 0),
        fc.array(fc.tuple(fc.nat(65535), fc.integer({ min: 1, max: 255 })), { maxLength: 6 }),
        fc.array(inodeArb, { maxLength: 2 }),
        (base, pokes, newInodes) => {
          const memory = base.memory.slice();
          for (const [at, x] of pokes) memory[at]! ^= x;
          const kept = base.wasi.inodes.slice(1).map((n, i) => (i === 0 ? { ...n, nlink: n.nlink + 1n } : n));
          const knownInos = new Set(kept.map((n) => n.ino));
          const inodes = [...kept, ...newInodes.filter((n) => !knownInos.has(n.ino))];
          const current: SnapshotData = { ...base, callIndex: base.callIndex, memory, wasi: { ...base.wasi, inodes } };
          const baseBytes = encodeSnapshot(base);
          const delta = makeSnapshotDelta(base, current, snapshotChecksum(baseBytes));
          expect(delta.delta!.pages.length).to.be.at.most(pokes.length);
          const deltaBytes = encodeSnapshot(delta);
          const decoded = decodeSnapshot(deltaBytes);
          expect(norm(decoded)).to.deep.equal(norm(delta));
          const rebuilt = applySnapshotDelta(decodeSnapshot(baseBytes), decoded, snapshotChecksum(baseBytes));
          const sortInodes = (s: SnapshotData): unknown => norm({ ...s, wasi: { ...s.wasi, inodes: [...s.wasi.inodes].sort((a, b) => (a.ino < b.ino ? -1 : a.ino > b.ino ? 1 : 0)) } });
          expect(sortInodes(rebuilt)).to.deep.equal(sortInodes(current));
        },
      ),
      { seed: propertySeed, numRuns: 40 },
    );
  });

  it('a delta is much smaller than the full snapshot when few pages changed', () => {
    const base: SnapshotData = {
      vmId: 'vm', moduleHash: 1n, config: { args: [], env: [], preopens: [], clockResolutionNs: 1n, bootTimeNs: 0n },
      callIndex: 10, memoryPages: 16, memory: new Uint8Array(16 * 65536), pageDigests: new BigUint64Array(0),
      globals: [], asyncifyStack: new Uint8Array(0), fsTimeNs: 0n, wasi: { inodes: [], fds: [], nextIno: 1n },
    };
    const memory = base.memory.slice();
    memory[100_000] = 1;
    const full = encodeSnapshot(base);
    const delta = encodeSnapshot(makeSnapshotDelta(base, { ...base, callIndex: 20, memory }, snapshotChecksum(full)));
    expect(full.length).to.be.greaterThan(16 * 65536);
    expect(delta.length).to.be.lessThan(5000);
    // Applying to the wrong base is refused.
    expect(codeOf(() => applySnapshotDelta(base, decodeSnapshot(delta), 999n))).to.equal('E_CHAIN');
  });

  it('typed errors: bad magic, future version, checksum, truncation, and no crash on any corruption', () => {
    const s = fc.sample(snapshotArb, { seed: propertySeed, numRuns: 1 })[0]!;
    const bytes = encodeSnapshot({ ...s, memoryPages: 0, memory: new Uint8Array(0), pageDigests: new BigUint64Array(0) });
    expect(codeOf(() => decodeSnapshot(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17])))).to.equal('E_MAGIC');
    expect(codeOf(() => decodeSnapshot(bytes.subarray(0, 10)))).to.equal('E_TRUNCATED');
    const future = bytes.slice();
    new DataView(future.buffer).setUint16(4, snapshotFormatVersion + 1, true);
    expect(codeOf(() => decodeSnapshot(future))).to.equal('E_VERSION');
    for (let i = snapshotEnvelopeBytes; i < bytes.length; i += 7) {
      const bad = bytes.slice();
      bad[i]! ^= 0x20;
      expect(codeOf(() => decodeSnapshot(bad))).to.equal('E_CHECKSUM');
    }
    for (let n = 0; n < bytes.length; n += 5) expect(codeOf(() => decodeSnapshot(bytes.subarray(0, n)))).to.be.a('string');
  });

  it('validates on encode (E_ENTRY) and on decode (E_MALFORMED behind a valid checksum)', () => {
    const s = fc.sample(snapshotArb, { seed: propertySeed + 1, numRuns: 1 })[0]!;
    expect(codeOf(() => encodeSnapshot({ ...s, memoryPages: 1, memory: new Uint8Array(10) }))).to.equal('E_ENTRY');
    expect(codeOf(() => encodeSnapshot({ ...s, globals: [{ index: 0, type: 'i32', bits: 1n << 40n }] }))).to.equal('E_ENTRY');
    // Forge a payload that checksums fine but is structurally broken: garbage bytes with a correct envelope.
    const garbage = new Uint8Array(64).map((_, i) => (i * 37) & 0xff);
    const env = new Uint8Array(snapshotEnvelopeBytes + garbage.length);
    env.set([0x54, 0x57, 0x53, 0x4e]);
    const v = new DataView(env.buffer);
    v.setUint16(4, snapshotFormatVersion, true);
    return import('@node-rs/xxhash').then(({ xxh64 }) => {
      v.setBigUint64(8, xxh64(garbage), true);
      env.set(garbage, snapshotEnvelopeBytes);
      expect(codeOf(() => decodeSnapshot(env))).to.be.oneOf(['E_MALFORMED', 'E_VERSION']);
    });
  });
});
