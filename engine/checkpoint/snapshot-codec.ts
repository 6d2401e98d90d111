/**
 * Snapshot codec: SnapshotData (plain TS) <-> bytes. Used for checkpoints, resync transfers and the state a
 * trace starts from; the Snapshot table is in schema/twinstep.fbs.
 *
 * Envelope (16 bytes, little-endian) in front of the FlatBuffer:
 *   "TWSN" | u16 format version | u16 flags (bit 0: delta) | u64 xxh64(FlatBuffer)
 * Why an envelope rather than a checksum field inside the table: a checksum cannot cover the buffer that
 * contains it without a canonical "zeroed" form; here it covers every byte after the envelope. The
 * envelope checksum also identifies a snapshot: a delta names its base by it.
 *
 * Two forms:
 *   full   memory holds the whole linear memory (memoryPages * 64 KiB); wasi holds every inode.
 *   delta  memory holds only the 4 KiB pages listed in delta.pages (concatenated, ascending);
 *          wasi.inodes holds only changed/new inodes, delta.removedInodes the deleted ones; fds, nextIno,
 *          globals, stack, page digests and config are always complete (small, and it keeps apply trivial).
 * applySnapshotDelta(base, delta) rebuilds the full form; makeSnapshotDelta(base, current) derives a delta.
 */
import { xxh64 } from '@node-rs/xxhash';
import { Builder, type ByteBuffer } from 'flatbuffers';
import { Snapshot } from '../../schema/generated/twinstep/snapshot.js';
import { SnapshotDelta } from '../../schema/generated/twinstep/snapshot-delta.js';
import { WasiState } from '../../schema/generated/twinstep/wasi-state.js';
import { Inode } from '../../schema/generated/twinstep/inode.js';
import { DirEntry } from '../../schema/generated/twinstep/dir-entry.js';
import { Fd } from '../../schema/generated/twinstep/fd.js';
import { Global } from '../../schema/generated/twinstep/global.js';
import { Mount } from '../../schema/generated/twinstep/mount.js';
import type { FdData, InodeData, WasiStateData } from '../wasi/state.ts';
import type { Preopen } from '../wasi/context.ts';
import { LogFormatError } from '../log/errors.ts';
import { checkLength, readFlat, safeNumber } from '../log/checked-buffer.ts';
import { buildGuestConfig, buildMachineConfig, readGuestConfig } from '../log/trace-header.ts';
import { snapshotFormatVersion, snapshotFormatVersionMin } from '../log/version.ts';

/** Wasm page (memory.grow unit). */
export const wasmPageBytes = 65536;
/** Digest / delta page (machine.ts PAGE_BYTES). */
export const digestPageBytes = 4096;
const digestPagesPerWasmPage = wasmPageBytes / digestPageBytes;
/** wasm32 limit. */
export const memoryPagesMax = 65536;

export const snapshotMagic: Uint8Array = Uint8Array.from([0x54, 0x57, 0x53, 0x4e]); // "TWSN"
export const snapshotEnvelopeBytes = 16;
const flagDelta = 1;

export type GlobalValueType = 'i32' | 'i64' | 'f32' | 'f64';
const globalTypes: readonly GlobalValueType[] = ['i32', 'i64', 'f32', 'f64'];

export interface GlobalData {
  readonly index: number;
  readonly type: GlobalValueType;
  /** Raw bits (i32/f32: low 32 bits; floats as IEEE bit patterns). */
  readonly bits: bigint;
}

export interface SnapshotConfig {
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly preopens: readonly Preopen[];
  readonly clockResolutionNs: bigint;
  readonly bootTimeNs: bigint;
  /** Unwind mode the Asyncify stack was captured under ('' when unknown). */
  readonly unwind?: string;
}

export interface SnapshotDeltaData {
  readonly baseCallIndex: number;
  /** Envelope checksum (snapshotChecksum) of the base snapshot. */
  readonly baseChecksum: bigint;
  /** 4 KiB page indices included in `memory`, strictly ascending. */
  readonly pages: readonly number[];
  readonly removedInodes: readonly bigint[];
}

export interface SnapshotData {
  readonly vmId: string;
  readonly moduleHash: bigint;
  /** The guest module, so a receiver needs no copy of it (optional). */
  readonly moduleBytes?: Uint8Array;
  readonly config: SnapshotConfig;
  /** The next host call the guest makes has this index. */
  readonly callIndex: number;
  /** Linear memory size in 64 KiB pages. */
  readonly memoryPages: number;
  /** Full: whole memory. Delta: the listed 4 KiB pages, concatenated. */
  readonly memory: Uint8Array;
  /** xxh64 per 4 KiB page of the full memory (memoryPages * 16), or empty when not computed. */
  readonly pageDigests: BigUint64Array;
  readonly globals: readonly GlobalData[];
  readonly asyncifyStack: Uint8Array;
  readonly fsTimeNs: bigint;
  /** Set when the guest has finished (with its exit code); absent for a guest that can still run. */
  readonly exitCode?: number;
  readonly wasi: WasiStateData;
  /** Present = delta form. */
  readonly delta?: SnapshotDeltaData;
}

function invalid(what: string): LogFormatError {
  return new LogFormatError('E_ENTRY', `snapshot: ${what}`);
}
function malformed(what: string): LogFormatError {
  return new LogFormatError('E_MALFORMED', `snapshot: ${what}`);
}

/** Shared structural checks (encode: E_ENTRY; decode: E_MALFORMED). */
function validate(s: SnapshotData, fail: (what: string) => LogFormatError): void {
  if (!Number.isInteger(s.memoryPages) || s.memoryPages < 0 || s.memoryPages > memoryPagesMax) {
    throw fail(`memory size ${s.memoryPages} pages out of range`);
  }
  if (!Number.isSafeInteger(s.callIndex) || s.callIndex < 0) throw fail(`call index ${s.callIndex}`);
  const digestPages = s.memoryPages * digestPagesPerWasmPage;
  if (s.pageDigests.length !== 0 && s.pageDigests.length !== digestPages) {
    throw fail(`${s.pageDigests.length} page digests for ${digestPages} pages`);
  }
  if (s.delta) {
    const pages = s.delta.pages;
    for (let i = 0; i < pages.length; i++) {
      const p = pages[i]!;
      if (!Number.isInteger(p) || p < 0 || p >= digestPages || (i > 0 && p <= pages[i - 1]!)) {
        throw fail(`delta page list must be ascending indices below ${digestPages} (entry ${i}: ${p})`);
      }
    }
    if (s.memory.length !== pages.length * digestPageBytes) {
      throw fail(`delta memory of ${s.memory.length} bytes for ${pages.length} pages`);
    }
    if (!Number.isSafeInteger(s.delta.baseCallIndex) || s.delta.baseCallIndex < 0 || s.delta.baseCallIndex > s.callIndex) {
      throw fail(`delta base call index ${s.delta.baseCallIndex} after snapshot call index ${s.callIndex}`);
    }
  } else if (s.memory.length !== s.memoryPages * wasmPageBytes) {
    throw fail(`memory of ${s.memory.length} bytes for ${s.memoryPages} wasm pages`);
  }
  for (const g of s.globals) {
    const t = globalTypes.indexOf(g.type);
    if (t < 0) throw fail(`global ${g.index}: unknown type ${String(g.type)}`);
    if (!Number.isInteger(g.index) || g.index < 0 || g.index > 0xffffffff) throw fail(`global index ${g.index}`);
    const width = g.type === 'i32' || g.type === 'f32' ? 32 : 64;
    if (g.bits < 0n || g.bits >= 1n << BigInt(width)) throw fail(`global ${g.index}: bits do not fit ${g.type}`);
  }
  for (const ino of s.wasi.inodes) {
    if (ino.kind !== 0 && ino.kind !== 1 && ino.kind !== 2) throw fail(`inode ${ino.ino}: unknown kind ${String(ino.kind)}`);
  }
  for (const fd of s.wasi.fds) {
    if (fd.target !== 0 && fd.target !== 1 && fd.target !== 2 && fd.target !== 3) throw fail(`fd ${fd.fd}: unknown target`);
    if (!Number.isInteger(fd.fd) || fd.fd < 0 || fd.fd > 0xffffffff) throw fail(`fd number ${fd.fd}`);
    if (!Number.isInteger(fd.flags) || fd.flags < 0 || fd.flags > 0xffff) throw fail(`fd ${fd.fd}: flags ${fd.flags}`);
  }
}

const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

function buildInode(b: Builder, n: InodeData): number {
  const data = n.data !== undefined ? b.createByteVector(n.data) : 0;
  let entries = 0;
  if (n.entries !== undefined) {
    const offs = n.entries.map((e) => DirEntry.createDirEntry(b, b.createString(e.name), u64(e.ino), e.number !== undefined ? u64(e.number) : null));
    entries = Inode.createEntriesVector(b, offs);
  }
  const target = n.target !== undefined ? b.createString(n.target) : 0;
  return Inode.createInode(b, u64(n.ino), n.kind as number, data, entries, target, n.parent !== undefined ? u64(n.parent) : null,
    u64(n.nlink), u64(n.atimNs), u64(n.mtimNs), u64(n.ctimNs), n.nextNumber !== undefined ? u64(n.nextNumber) : null);
}

function buildFd(b: Builder, f: FdData): number {
  const preopen = f.preopen !== undefined ? b.createString(f.preopen) : 0;
  return Fd.createFd(b, f.fd, f.target as number, f.ino !== undefined ? u64(f.ino) : null, preopen, u64(f.rightsBase),
    u64(f.rightsInheriting), f.flags, u64(f.offset));
}

/**
 * Encodes a snapshot. The envelope is written into the builder's free room in front of the payload when there
 * is some (there always is with the builder sized up front), so a snapshot of a large memory costs one copy of
 * it, not two. `reserve`: bytes the result must leave free in its buffer before its first byte (a caller can
 * prefix the snapshot in place, state-transfer.ts); the result may be a view into a larger buffer.
 */
export function encodeSnapshot(s: SnapshotData, reserve = 0): Uint8Array {
  validate(s, invalid);
  // A multiple of 8: the builder aligns from the end of its buffer, so the payload is then 8-aligned from its
  // start too, and a decoder can read it in place (readFlat, tailView).
  const size = 1024 + reserve + snapshotEnvelopeBytes + s.memory.length + (s.moduleBytes?.length ?? 0) + s.pageDigests.length * 8;
  const b = new Builder(Math.ceil(size / 8) * 8);
  const vm = b.createString(s.vmId);
  const moduleBytes = s.moduleBytes !== undefined ? b.createByteVector(s.moduleBytes) : 0;
  const guest = buildGuestConfig(b, s.config.args, s.config.env, s.config.preopens);
  const machine = buildMachineConfig(b, { clockResolutionNs: u64(s.config.clockResolutionNs), bootTimeNs: u64(s.config.bootTimeNs), unwind: s.config.unwind });
  const memory = b.createByteVector(s.memory);
  const digests = Snapshot.createPageDigestsVector(b, Array.from(s.pageDigests));
  Snapshot.startGlobalsVector(b, s.globals.length);
  for (let i = s.globals.length - 1; i >= 0; i--) {
    const g = s.globals[i]!;
    Global.createGlobal(b, g.bits, g.index, globalTypes.indexOf(g.type));
  }
  const globals = b.endVector();
  const stack = b.createByteVector(s.asyncifyStack);
  const inodes = WasiState.createInodesVector(b, s.wasi.inodes.map((n) => buildInode(b, n)));
  const fds = WasiState.createFdsVector(b, s.wasi.fds.map((f) => buildFd(b, f)));
  const mounts = s.wasi.mounts !== undefined
    ? WasiState.createMountsVector(b, s.wasi.mounts.map((m) => Mount.createMount(b, b.createString(m.guest), u64(m.ino))))
    : 0;
  const wasi = WasiState.createWasiState(b, inodes, fds, u64(s.wasi.nextIno), mounts);
  let delta = 0;
  if (s.delta) {
    const pages = SnapshotDelta.createPagesVector(b, s.delta.pages as number[]);
    const removed = SnapshotDelta.createRemovedInodesVector(b, s.delta.removedInodes.map(u64));
    delta = SnapshotDelta.createSnapshotDelta(b, BigInt(s.delta.baseCallIndex), u64(s.delta.baseChecksum), pages, removed);
  }
  Snapshot.startSnapshot(b);
  Snapshot.addFormatVersion(b, snapshotFormatVersion);
  Snapshot.addVmId(b, vm);
  Snapshot.addModuleHash(b, u64(s.moduleHash));
  if (moduleBytes) Snapshot.addModuleBytes(b, moduleBytes);
  Snapshot.addGuest(b, guest);
  Snapshot.addMachine(b, machine);
  Snapshot.addCallIndex(b, BigInt(s.callIndex));
  Snapshot.addMemoryPages(b, s.memoryPages);
  Snapshot.addMemory(b, memory);
  Snapshot.addPageDigests(b, digests);
  Snapshot.addGlobals(b, globals);
  Snapshot.addAsyncifyStack(b, stack);
  Snapshot.addFsTimeNs(b, u64(s.fsTimeNs));
  Snapshot.addWasi(b, wasi);
  if (delta) Snapshot.addDelta(b, delta);
  if (s.exitCode !== undefined) {
    Snapshot.addExited(b, true);
    Snapshot.addExitCode(b, s.exitCode | 0);
  }
  b.finish(Snapshot.endSnapshot(b));
  const payload = b.asUint8Array();
  const at = payload.byteOffset - snapshotEnvelopeBytes;
  let out: Uint8Array;
  if (at >= reserve) {
    out = new Uint8Array(payload.buffer, at, snapshotEnvelopeBytes + payload.length);
  } else {
    out = new Uint8Array(new ArrayBuffer(reserve + snapshotEnvelopeBytes + payload.length), reserve);
    out.set(payload, snapshotEnvelopeBytes);
  }
  out.set(snapshotMagic, 0);
  const v = new DataView(out.buffer, out.byteOffset, snapshotEnvelopeBytes);
  v.setUint16(4, snapshotFormatVersion, true);
  v.setUint16(6, s.delta ? flagDelta : 0, true);
  v.setBigUint64(8, xxh64(out.subarray(snapshotEnvelopeBytes)), true);
  return out;
}

/** Validates the envelope (magic, version, checksum) and returns the payload and checksum. */
function openEnvelope(bytes: Uint8Array): { payload: Uint8Array; checksum: bigint; flags: number } {
  if (bytes.length < snapshotEnvelopeBytes) {
    const n = Math.min(bytes.length, 4);
    for (let i = 0; i < n; i++) if (bytes[i] !== snapshotMagic[i]) throw new LogFormatError('E_MAGIC', 'not a twinstep snapshot');
    throw new LogFormatError('E_TRUNCATED', `snapshot of ${bytes.length} bytes is shorter than its envelope`);
  }
  for (let i = 0; i < 4; i++) if (bytes[i] !== snapshotMagic[i]) throw new LogFormatError('E_MAGIC', 'not a twinstep snapshot (bad magic)');
  const v = new DataView(bytes.buffer, bytes.byteOffset, snapshotEnvelopeBytes);
  const version = v.getUint16(4, true);
  if (version > snapshotFormatVersion) {
    throw new LogFormatError('E_VERSION', `snapshot format version ${version} is newer than this build supports (version ${snapshotFormatVersion})`);
  }
  if (version < snapshotFormatVersionMin) {
    throw new LogFormatError('E_VERSION', `snapshot format version ${version} is not supported (this build reads ${snapshotFormatVersionMin}..${snapshotFormatVersion})`);
  }
  const checksum = v.getBigUint64(8, true);
  const payload = bytes.subarray(snapshotEnvelopeBytes);
  if (xxh64(payload) !== checksum) throw new LogFormatError('E_CHECKSUM', 'snapshot checksum mismatch');
  return { payload, checksum, flags: v.getUint16(6, true) };
}

/** The envelope checksum of an encoded snapshot (what a delta's baseChecksum refers to). Verifies it. */
export function snapshotChecksum(bytes: Uint8Array): bigint {
  return openEnvelope(bytes).checksum;
}

function readInode(n: Inode, bb: ByteBuffer): InodeData {
  const kind = n.kind();
  if (kind > 2) throw malformed(`inode ${n.ino()}: unknown kind ${kind}`);
  const data = n.dataArray();
  // Presence of the entries vector (slot 3 -> vtable offset 10): absent and empty are different states.
  const hasEntries = bb.__offset(n.bb_pos, 10) !== 0;
  let entries: { name: string; ino: bigint; number?: bigint }[] | undefined;
  if (hasEntries) {
    const count = checkLength(bb, n.entriesLength(), 4, 'directory entries');
    entries = new Array(count);
    for (let i = 0; i < count; i++) {
      const e = n.entries(i)!;
      const name = e.name();
      if (name === null) throw malformed('directory entry without a name');
      const number = e.number();
      entries[i] = number !== null ? { name, ino: e.ino(), number } : { name, ino: e.ino() };
    }
  }
  const target = n.target();
  const parent = n.parent();
  return {
    ino: n.ino(),
    // The schema enum mirrors engine/wasi/state.ts InodeKind value for value.
    kind: kind as number as InodeData['kind'],
    ...(data !== null ? { data: data.slice() } : {}),
    ...(entries !== undefined ? { entries } : {}),
    ...(target !== null ? { target } : {}),
    ...(parent !== null ? { parent } : {}),
    ...(n.nextNumber() !== null ? { nextNumber: n.nextNumber()! } : {}),
    nlink: n.nlink(),
    atimNs: n.atimNs(),
    mtimNs: n.mtimNs(),
    ctimNs: n.ctimNs(),
  };
}

function readFd(f: Fd): FdData {
  const target = f.target();
  if (target > 3) throw malformed(`fd ${f.fd()}: unknown target ${target}`);
  const ino = f.ino();
  const preopen = f.preopen();
  return {
    fd: f.fd(),
    target: target as number as FdData['target'],
    ...(ino !== null ? { ino } : {}),
    ...(preopen !== null ? { preopen } : {}),
    rightsBase: f.rightsBase(),
    rightsInheriting: f.rightsInheriting(),
    flags: f.flags(),
    offset: f.offset(),
  };
}

/**
 * Decodes and validates an encoded snapshot. Typed errors only (E_MAGIC/E_VERSION/E_TRUNCATED/E_CHECKSUM/
 * E_MALFORMED). `memory` may be a view into `bytes`: do not overwrite `bytes` while using the result.
 */
export function decodeSnapshot(bytes: Uint8Array): SnapshotData {
  const { payload, flags } = openEnvelope(bytes);
  const s = readFlat(payload, 'snapshot', (bb): SnapshotData => {
    const t = Snapshot.getRootAsSnapshot(bb);
    const version = t.formatVersion();
    if (version > snapshotFormatVersion || version < snapshotFormatVersionMin) {
      throw new LogFormatError('E_VERSION', `snapshot table version ${version} (this build reads ${snapshotFormatVersionMin}..${snapshotFormatVersion})`);
    }
    const guest = readGuestConfig(t.guest(), bb);
    const m = t.machine();
    const unwind = m?.unwindMode() ?? null;
    const moduleBytes = t.moduleBytesArray();
    const digestCount = checkLength(bb, t.pageDigestsLength(), 8, 'page digests');
    const pageDigests = new BigUint64Array(digestCount);
    for (let i = 0; i < digestCount; i++) pageDigests[i] = t.pageDigests(i)!;
    const globalCount = checkLength(bb, t.globalsLength(), 16, 'globals');
    const globals: GlobalData[] = new Array(globalCount);
    for (let i = 0; i < globalCount; i++) {
      const g = t.globals(i)!;
      const type = globalTypes[g.type()];
      if (type === undefined) throw malformed(`global ${g.index()}: unknown type ${g.type()}`);
      globals[i] = { index: g.index(), type, bits: g.bits() };
    }
    const w = t.wasi();
    const inodes: InodeData[] = [];
    const fds: FdData[] = [];
    let mounts: { guest: string; ino: bigint }[] | undefined;
    if (w) {
      // Presence matters (absent = derive from fds): WasiState slot 3 -> vtable offset 10.
      if (bb.__offset(w.bb_pos, 10) !== 0) {
        const n = checkLength(bb, w.mountsLength(), 4, 'mounts');
        mounts = [];
        for (let i = 0; i < n; i++) {
          const m = w.mounts(i)!;
          mounts.push({ guest: m.guest() ?? '', ino: m.ino() });
        }
      }
      for (let i = 0, n = checkLength(bb, w.inodesLength(), 4, 'inodes'); i < n; i++) inodes.push(readInode(w.inodes(i)!, bb));
      for (let i = 0, n = checkLength(bb, w.fdsLength(), 4, 'fds'); i < n; i++) fds.push(readFd(w.fds(i)!));
    }
    const d = t.delta();
    let delta: SnapshotDeltaData | undefined;
    if (d) {
      const pages = Array.from(d.pagesArray() ?? []);
      const removed: bigint[] = [];
      for (let i = 0, n = checkLength(bb, d.removedInodesLength(), 8, 'removed inodes'); i < n; i++) removed.push(d.removedInodes(i)!);
      delta = { baseCallIndex: safeNumber(d.baseCallIndex(), 'delta base call index'), baseChecksum: d.baseChecksum(), pages, removedInodes: removed };
    }
    return {
      vmId: t.vmId() ?? '',
      moduleHash: t.moduleHash(),
      ...(moduleBytes !== null ? { moduleBytes: moduleBytes.slice() } : {}),
      config: {
        ...guest,
        clockResolutionNs: m?.clockResolutionNs() ?? 0n,
        bootTimeNs: m?.bootTimeNs() ?? 0n,
        ...(unwind !== null ? { unwind } : {}),
      },
      callIndex: safeNumber(t.callIndex(), 'call index'),
      memoryPages: t.memoryPages(),
      // No copy (memory can be hundreds of MiB): a view into `bytes` or readFlat's private copy of it.
      memory: t.memoryArray() ?? new Uint8Array(0),
      pageDigests,
      globals,
      asyncifyStack: (t.asyncifyStackArray() ?? new Uint8Array(0)).slice(),
      fsTimeNs: t.fsTimeNs(),
      ...(t.exited() ? { exitCode: t.exitCode() } : {}),
      wasi: { inodes, fds, nextIno: w?.nextIno() ?? 0n, ...(mounts !== undefined ? { mounts } : {}) },
      ...(delta !== undefined ? { delta } : {}),
    };
  }, { tailView: true });
  if (((flags & flagDelta) !== 0) !== (s.delta !== undefined)) throw malformed('envelope delta flag disagrees with the table');
  validate(s, malformed);
  return s;
}

/** Rebuilds the full snapshot from a full base and a delta taken relative to it. */
export function applySnapshotDelta(base: SnapshotData, delta: SnapshotData, baseChecksum?: bigint): SnapshotData {
  if (base.delta) throw new LogFormatError('E_ENTRY', 'delta base must be a full snapshot');
  const d = delta.delta;
  if (!d) throw new LogFormatError('E_ENTRY', 'not a delta snapshot');
  if (d.baseCallIndex !== base.callIndex) {
    throw new LogFormatError('E_CHAIN', `delta is relative to call ${d.baseCallIndex}, base is at call ${base.callIndex}`);
  }
  if (baseChecksum !== undefined && baseChecksum !== d.baseChecksum) {
    throw new LogFormatError('E_CHAIN', 'delta names a different base snapshot (checksum mismatch)');
  }
  const memory = new Uint8Array(delta.memoryPages * wasmPageBytes);
  memory.set(base.memory.subarray(0, Math.min(base.memory.length, memory.length)));
  d.pages.forEach((p, i) => memory.set(delta.memory.subarray(i * digestPageBytes, (i + 1) * digestPageBytes), p * digestPageBytes));
  const removed = new Set(d.removedInodes);
  const changed = new Map(delta.wasi.inodes.map((n) => [n.ino, n]));
  const inodes: InodeData[] = [];
  for (const n of base.wasi.inodes) {
    if (removed.has(n.ino)) continue;
    const c = changed.get(n.ino);
    inodes.push(c ?? n);
    changed.delete(n.ino);
  }
  for (const n of changed.values()) inodes.push(n);
  const { delta: _omit, ...rest } = delta;
  return { ...rest, memory, wasi: { ...delta.wasi, inodes } };
}

function bytesEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function inodeEqual(a: InodeData, b: InodeData): boolean {
  if (a.kind !== b.kind || a.target !== b.target || a.parent !== b.parent || a.nlink !== b.nlink || a.nextNumber !== b.nextNumber) return false;
  if (a.atimNs !== b.atimNs || a.mtimNs !== b.mtimNs || a.ctimNs !== b.ctimNs) return false;
  if (!bytesEqual(a.data, b.data)) return false;
  if ((a.entries === undefined) !== (b.entries === undefined)) return false;
  if (a.entries && b.entries) {
    if (a.entries.length !== b.entries.length) return false;
    for (let i = 0; i < a.entries.length; i++) {
      if (a.entries[i]!.name !== b.entries[i]!.name || a.entries[i]!.ino !== b.entries[i]!.ino || a.entries[i]!.number !== b.entries[i]!.number) return false;
    }
  }
  return true;
}

/**
 * A delta of `current` (full) relative to `base` (full, encoded with checksum `baseChecksum`). Pages are
 * compared by content (4 KiB), inodes by value.
 */
export function makeSnapshotDelta(base: SnapshotData, current: SnapshotData, baseChecksum: bigint): SnapshotData {
  if (base.delta || current.delta) throw new LogFormatError('E_ENTRY', 'makeSnapshotDelta needs two full snapshots');
  const pageCount = current.memoryPages * digestPagesPerWasmPage;
  const pages: number[] = [];
  for (let p = 0; p < pageCount; p++) {
    const at = p * digestPageBytes;
    const cur = current.memory.subarray(at, at + digestPageBytes);
    if (at + digestPageBytes > base.memory.length || !bytesEqual(cur, base.memory.subarray(at, at + digestPageBytes))) pages.push(p);
  }
  const memory = new Uint8Array(pages.length * digestPageBytes);
  pages.forEach((p, i) => memory.set(current.memory.subarray(p * digestPageBytes, (p + 1) * digestPageBytes), i * digestPageBytes));
  const baseInodes = new Map(base.wasi.inodes.map((n) => [n.ino, n]));
  const curInos = new Set(current.wasi.inodes.map((n) => n.ino));
  const inodes = current.wasi.inodes.filter((n) => {
    const b = baseInodes.get(n.ino);
    return b === undefined || !inodeEqual(b, n);
  });
  const removedInodes = base.wasi.inodes.filter((n) => !curInos.has(n.ino)).map((n) => n.ino);
  return {
    ...current,
    memory,
    wasi: { ...current.wasi, inodes },
    delta: { baseCallIndex: base.callIndex, baseChecksum, pages, removedInodes },
  };
}
