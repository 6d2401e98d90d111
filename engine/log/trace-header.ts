/**
 * TraceHeader and TraceEnd: plain TS shapes and their FlatBuffers codecs; plus the 12-byte file prelude.
 *
 * File layout (all little-endian):
 *   prelude   8-byte magic "\x89TWT\r\n\x1a\n" | u16 format version | u16 reserved (0)
 *   frame     Header    (TraceHeader)
 *   frame     Snapshot  (optional: only when header.start.snapshot)
 *   frame*    Batch     (EntryBatch)
 *   frame     End       (TraceEnd; absent when the recorder died)
 * The magic's non-ASCII first byte and CR/LF/^Z catch text-mode transfers and `cat`-ed text (as PNG's does).
 */
import { Builder, type ByteBuffer } from 'flatbuffers';
import { TraceHeader } from '../../schema/generated/twinstep/trace-header.js';
import { TraceEnd } from '../../schema/generated/twinstep/trace-end.js';
import { GuestConfig } from '../../schema/generated/twinstep/guest-config.js';
import { MachineConfig } from '../../schema/generated/twinstep/machine-config.js';
import { Preopen as PreopenFb } from '../../schema/generated/twinstep/preopen.js';
import type { Preopen } from '../wasi/context.ts';
import { LogFormatError } from './errors.ts';
import { checkLength, readFlat, safeNumber } from './checked-buffer.ts';
import { createdByDefault, traceFormatVersion, traceFormatVersionMin } from './version.ts';

export const traceMagic: Uint8Array = Uint8Array.from([0x89, 0x54, 0x57, 0x54, 0x0d, 0x0a, 0x1a, 0x0a]);
export const tracePreludeBytes = 12;

/** Machine parameters recorded with a trace (MachineConfig). */
export interface TraceMachineConfig {
  readonly clockResolutionNs: bigint;
  readonly bootTimeNs: bigint;
  /** 'all' | 'io' | 'none' | comma-separated import names. */
  readonly unwind: string;
  readonly digestIntervalCalls: number;
  readonly digestIntervalMs: number;
}

export interface TraceHeaderData {
  readonly vmId: string;
  /** xxh64 of the original module bytes. */
  readonly moduleHash: bigint;
  readonly moduleSizeBytes: number;
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly preopens: readonly Preopen[];
  /** Digest of the initial device state (virtual disk, descriptors, and the guest's globals). */
  readonly diskDigest: bigint;
  /** The same without the guest's globals: comparable across builds (absent in older traces). */
  readonly diskOnlyDigest?: bigint;
  readonly machine: TraceMachineConfig;
  /** Where the trace starts: host-call index, first seq, chain value before it, snapshot frame present. */
  readonly start: { readonly callIndex: number; readonly seq: number; readonly checksum: bigint; readonly snapshot: boolean };
  /** Writer tool/version; defaults to createdByDefault. */
  readonly createdBy?: string;
  /** Where the recorder found the guest module (absent in traces that do not say). */
  readonly modulePath?: string;
}

export interface TraceEndData {
  readonly endSeq: number;
  readonly lastChecksum: bigint;
}

/** Builds GuestConfig (shared with snapshots). */
export function buildGuestConfig(b: Builder, args: readonly string[], env: readonly string[], preopens: readonly Preopen[]): number {
  const argsOff = GuestConfig.createArgsVector(b, args.map((s) => b.createString(s)));
  const envOff = GuestConfig.createEnvVector(b, env.map((s) => b.createString(s)));
  const preOffs = preopens.map((p) => PreopenFb.createPreopen(b, b.createString(p.host), b.createString(p.guest)));
  const preOff = GuestConfig.createPreopensVector(b, preOffs);
  return GuestConfig.createGuestConfig(b, argsOff, envOff, preOff);
}

export function readGuestConfig(g: GuestConfig | null, bb: ByteBuffer): { args: string[]; env: string[]; preopens: Preopen[] } {
  const args: string[] = [];
  const env: string[] = [];
  const preopens: Preopen[] = [];
  if (g) {
    for (let i = 0, n = checkLength(bb, g.argsLength(), 4, 'args'); i < n; i++) args.push(g.args(i));
    for (let i = 0, n = checkLength(bb, g.envLength(), 4, 'env'); i < n; i++) env.push(g.env(i));
    for (let i = 0, n = checkLength(bb, g.preopensLength(), 4, 'preopens'); i < n; i++) {
      const p = g.preopens(i)!;
      preopens.push({ host: p.host() ?? '', guest: p.guest() ?? '' });
    }
  }
  return { args, env, preopens };
}

export function buildMachineConfig(b: Builder, m: Partial<TraceMachineConfig> & { clockResolutionNs: bigint; bootTimeNs: bigint }): number {
  const unwindOff = m.unwind !== undefined ? b.createString(m.unwind) : 0;
  MachineConfig.startMachineConfig(b);
  MachineConfig.addClockResolutionNs(b, m.clockResolutionNs);
  MachineConfig.addBootTimeNs(b, m.bootTimeNs);
  if (unwindOff) MachineConfig.addUnwindMode(b, unwindOff);
  MachineConfig.addDigestIntervalCalls(b, m.digestIntervalCalls ?? 0);
  MachineConfig.addDigestIntervalMs(b, m.digestIntervalMs ?? 0);
  return MachineConfig.endMachineConfig(b);
}

export function readMachineConfig(m: MachineConfig | null): TraceMachineConfig {
  return {
    clockResolutionNs: m?.clockResolutionNs() ?? 0n,
    bootTimeNs: m?.bootTimeNs() ?? 0n,
    unwind: m?.unwindMode() ?? '',
    digestIntervalCalls: m?.digestIntervalCalls() ?? 0,
    digestIntervalMs: m?.digestIntervalMs() ?? 0,
  };
}

function u32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new LogFormatError('E_ENTRY', `${what} ${value} is not a uint32`);
  return value;
}

/** The header of a trace of format `version` (default: the one this build writes). */
export function encodeTraceHeader(h: TraceHeaderData, version: number = traceFormatVersion): Uint8Array {
  const b = new Builder(256);
  const vmOff = b.createString(h.vmId);
  const guestOff = buildGuestConfig(b, h.args, h.env, h.preopens);
  const machineOff = buildMachineConfig(b, {
    ...h.machine,
    digestIntervalCalls: u32(h.machine.digestIntervalCalls, 'digest interval (calls)'),
    digestIntervalMs: u32(h.machine.digestIntervalMs, 'digest interval (ms)'),
  });
  const createdOff = b.createString(h.createdBy ?? createdByDefault);
  const pathOff = h.modulePath === undefined ? 0 : b.createString(h.modulePath);
  if (!Number.isSafeInteger(h.start.callIndex) || h.start.callIndex < 0 || !Number.isSafeInteger(h.start.seq) || h.start.seq < 0) {
    throw new LogFormatError('E_ENTRY', 'trace start call index / seq must be non-negative safe integers');
  }
  TraceHeader.startTraceHeader(b);
  TraceHeader.addFormatVersion(b, version);
  TraceHeader.addVmId(b, vmOff);
  TraceHeader.addModuleHash(b, BigInt.asUintN(64, h.moduleHash));
  TraceHeader.addModuleSize(b, u32(h.moduleSizeBytes, 'module size'));
  TraceHeader.addGuest(b, guestOff);
  TraceHeader.addDiskDigest(b, BigInt.asUintN(64, h.diskDigest));
  TraceHeader.addMachine(b, machineOff);
  TraceHeader.addStartCallIndex(b, BigInt(h.start.callIndex));
  TraceHeader.addStartSeq(b, BigInt(h.start.seq));
  TraceHeader.addStartChecksum(b, BigInt.asUintN(64, h.start.checksum));
  TraceHeader.addSnapshotPresent(b, h.start.snapshot);
  TraceHeader.addCreatedBy(b, createdOff);
  if (pathOff) TraceHeader.addModulePath(b, pathOff);
  if (h.diskOnlyDigest !== undefined) TraceHeader.addDiskOnlyDigest(b, BigInt.asUintN(64, h.diskOnlyDigest));
  b.finish(TraceHeader.endTraceHeader(b));
  return b.asUint8Array();
}

/** Decodes a TraceHeader; returns it with the format version it declares. */
export function decodeTraceHeader(bytes: Uint8Array): { header: TraceHeaderData; formatVersion: number } {
  return readFlat(bytes, 'trace header', (bb) => {
    const t = TraceHeader.getRootAsTraceHeader(bb);
    const formatVersion = t.formatVersion();
    checkTraceVersion(formatVersion);
    const guest = readGuestConfig(t.guest(), bb);
    const header: TraceHeaderData = {
      vmId: t.vmId() ?? '',
      moduleHash: t.moduleHash(),
      moduleSizeBytes: t.moduleSize(),
      ...guest,
      diskDigest: t.diskDigest(),
      machine: readMachineConfig(t.machine()),
      start: {
        callIndex: safeNumber(t.startCallIndex(), 'start call index'),
        seq: safeNumber(t.startSeq(), 'start seq'),
        checksum: t.startChecksum(),
        snapshot: t.snapshotPresent(),
      },
      createdBy: t.createdBy() ?? '',
      ...(t.modulePath() ? { modulePath: t.modulePath()! } : {}),
      ...(t.diskOnlyDigest() !== null ? { diskOnlyDigest: t.diskOnlyDigest()! } : {}),
    };
    return { header, formatVersion };
  });
}

export function encodeTraceEnd(e: TraceEndData): Uint8Array {
  const b = new Builder(64);
  b.finish(TraceEnd.createTraceEnd(b, BigInt(e.endSeq), BigInt.asUintN(64, e.lastChecksum)));
  return b.asUint8Array();
}

export function decodeTraceEnd(bytes: Uint8Array): TraceEndData {
  return readFlat(bytes, 'trace end', (bb) => {
    const t = TraceEnd.getRootAsTraceEnd(bb);
    return { endSeq: safeNumber(t.endSeq(), 'end seq'), lastChecksum: t.lastChecksum() };
  });
}

export function checkTraceVersion(version: number): void {
  if (version > traceFormatVersion) {
    throw new LogFormatError(
      'E_VERSION',
      `trace format version ${version} is newer than this build supports (version ${traceFormatVersion}); upgrade twinstep to read it`,
    );
  }
  if (version < traceFormatVersionMin) {
    throw new LogFormatError(
      'E_VERSION',
      `trace format version ${version} is not supported (this build reads versions ${traceFormatVersionMin}..${traceFormatVersion})`,
    );
  }
}

export function encodePrelude(version: number = traceFormatVersion): Uint8Array {
  const out = new Uint8Array(tracePreludeBytes);
  out.set(traceMagic, 0);
  new DataView(out.buffer).setUint16(8, version, true);
  return out;
}

/**
 * Checks a prelude. `bytes` may be shorter than the prelude (a torn or empty file): then E_TRUNCATED if
 * what is there matches the magic, E_MAGIC otherwise. Returns the format version.
 */
export function checkPrelude(bytes: Uint8Array): number {
  const n = Math.min(bytes.length, traceMagic.length);
  for (let i = 0; i < n; i++) {
    if (bytes[i] !== traceMagic[i]) throw new LogFormatError('E_MAGIC', 'not a twinstep trace file (bad magic bytes)', 0);
  }
  if (bytes.length < tracePreludeBytes) {
    throw new LogFormatError('E_TRUNCATED', `trace file ends inside its ${tracePreludeBytes}-byte prelude`, bytes.length);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, tracePreludeBytes);
  const version = v.getUint16(8, true);
  checkTraceVersion(version);
  return version;
}
