/**
 * State transfers of the live pair: what the primary sends for a CheckpointRequest, and how the secondary
 * turns the received chunks back into a machine.
 *
 * A transfer is a sequence of PIECES, each an encoded snapshot prefixed by its u32 length, cut into chunks
 * (the core hashes and numbers chunks; pieces may span chunks). A full piece carries the module bytes, the
 * config and the whole memory, so a secondary needs no copy of the guest. A diff piece carries only the 4 KiB
 * pages whose digests differ from the receiver's (resync) or from the pre-copy (re-protect stun), plus the
 * complete, small device state (fd table and every inode): the file system is replaced as a whole, which keeps
 * apply trivially atomic.
 */
import { xxh64 } from '@node-rs/xxhash';
import { decodeSnapshot, encodeSnapshot, type SnapshotData } from '../checkpoint/snapshot-codec.ts';
import type { CheckpointRequest, StateHashes } from '../core/primary-types.ts';
import { PAGE_BYTES } from '../machine/machine.ts';
import { pageDigests } from '../checkpoint/digest.ts';
import { MachineError } from '../machine/errors.ts';
import { loadModule, parseUnwindMode, type LoadedModule } from '../wasi/loader.ts';
import { WasiMachine } from '../wasi/machine.ts';
import { stateFromData } from '../wasi/snapshot.ts';
import type { Devices } from '../wasi/context.ts';
import { InodeKind, type WasiStateData } from '../wasi/state.ts';

/**
 * The chunk hash both drivers give their cores (the cores' default, FNV-1a in JS, runs at ~0.5 GB/s: 120 ms
 * per 64 MiB on each side of a transfer; xxh64 takes 4 ms). Peers must agree: part of channel format 3.
 */
export const chunkHashXxh64 = (bytes: Uint8Array): bigint => xxh64(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

/** Chunk size of a transfer: big enough to amortise per-message costs, small enough to interleave heartbeats. */
export const transferChunkBytes = 1024 * 1024;

/** Page digests and per-inode block digests of a machine: what a receiver advertises for a diff. */
export function stateHashes(machine: WasiMachine): StateHashes {
  return { pages: Array.from(pageDigests(machine.memoryView())), blocks: blockHashes(machine.deviceState()) };
}

export function blockHashes(wasi: WasiStateData): bigint[] {
  return [...wasi.inodes]
    .sort((a, b) => (a.ino < b.ino ? -1 : a.ino > b.ino ? 1 : 0))
    .map((n) => {
      const meta = `${n.ino}|${n.kind}|${n.nlink}|${n.atimNs}|${n.mtimNs}|${n.ctimNs}|${n.parent ?? ''}|${n.target ?? ''}|${(n.entries ?? []).map((e) => `${e.name}=${e.ino}${e.number !== undefined ? `#${e.number}` : ''}`).join('/')}|${n.nextNumber ?? ''}`;
      const data = n.kind === InodeKind.File && n.data ? xxh64(Buffer.from(n.data.buffer, n.data.byteOffset, n.data.byteLength)) : 0n;
      return xxh64(Buffer.from(`${meta}|${data}`));
    });
}

export interface TransferResult {
  readonly chunks: Uint8Array[];
  readonly callIndex: number;
  readonly root: bigint;
  /** Page digests at this checkpoint: the base of a later 'delta' request of the same transfer. */
  readonly pageDigests: BigUint64Array;
  /** Bytes a full snapshot would have taken, for the resync-bytes-vs-full figure. */
  readonly fullBytes: number;
  readonly sentBytes: number;
}

/**
 * Takes the checkpoint a request asks for. The machine must stand at a host-call boundary (paused or not yet
 * started). `precopy` holds the page digests of this transfer's pre-copy for a 'delta' request.
 *
 * The memory is encoded straight from the live machine (the guest does not run before this returns), and the
 * piece is framed in place: a full checkpoint of a large memory copies it once, into the encoded snapshot.
 */
export function takeCheckpoint(machine: WasiMachine, module: LoadedModule, vmId: string, req: CheckpointRequest, precopy?: BigUint64Array): TransferResult {
  const snap = machine.snapshot({ shareMemory: true });
  const full = snap.toData({ vmId, module });
  const root = snap.digest().root;
  let piece: Uint8Array;
  if (req.kind === 'full') {
    piece = encodeSnapshot(full, PIECE_HEADER_BYTES);
  } else {
    const against = req.kind === 'diff' ? req.against.pages : precopy ? Array.from(precopy) : [];
    piece = encodeSnapshot(diffPiece(full, against), PIECE_HEADER_BYTES);
  }
  const fullBytes = req.kind === 'full' ? piece.length : full.memory.length;
  return { chunks: cut(frame(piece)), callIndex: snap.callIndex, root, pageDigests: snap.pageDigests, fullBytes, sentBytes: piece.length };
}

/** Device state left out of a pre-copy's intermediate pieces: the final delta carries the real one. */
const NO_DEVICE_STATE = { inodes: [], fds: [], nextIno: 0n } as const;

/**
 * A full pre-copy taken in steps while the guest keeps running (re-protect of a large memory). The first piece
 * is a full snapshot with no memory (module, config, state); each step adds a diff piece with the next run of
 * pages as they are at that step, and records the digest of each page as copied. The pages are then of
 * different moments, which is what a pre-copy may be: the transfer's stunned delta sends every page whose
 * digest differs from the one recorded here (and every page the guest grew since), plus the complete state,
 * so the receiver ends at exactly the state of the stun. Intermediate pieces carry no device state (the delta's
 * replaces it as a whole), so a guest's virtual disk travels once, with the delta.
 *
 * Each step reads the live memory: the guest must stand at a host-call boundary during step() and start().
 */
export class Precopy {
  private readonly pieces: Uint8Array[] = [];
  /** Digest of each page as copied; pages past the memory size at the start stay out (the delta sends them). */
  readonly pageDigests: BigUint64Array;
  private nextPage = 0;
  sentBytes = 0;
  /**
   * What the diff pieces carry besides their pages: the state at the start, without module or device state.
   * Only the stunned delta's state counts, so the steps need not export the machine's state again (that copies
   * every file of the virtual disk).
   */
  private readonly base: SnapshotData;

  constructor(
    private readonly machine: WasiMachine,
    module: LoadedModule,
    vmId: string,
  ) {
    this.pageDigests = new BigUint64Array(machine.memoryBytes / PAGE_BYTES);
    const data = machine.snapshot({ shareMemory: true, pageDigests: false }).toData({ vmId, module });
    const empty = { memoryPages: 0, memory: new Uint8Array(0), pageDigests: new BigUint64Array(0) };
    this.add(encodeSnapshot({ ...data, ...empty }, PIECE_HEADER_BYTES));
    this.base = { ...data, ...empty, moduleBytes: undefined, wasi: NO_DEVICE_STATE };
  }

  get done(): boolean {
    return this.nextPage >= this.pageDigests.length;
  }

  /** Copies (encodes) the next run of at most `maxBytes` of pages; returns the bytes taken. */
  step(maxBytes: number): number {
    const first = this.nextPage;
    const end = Math.min(this.pageDigests.length, first + Math.max(1, Math.floor(maxBytes / PAGE_BYTES)));
    if (end <= first) return 0;
    const live = this.machine.memoryView(); // the guest may have grown its memory since the start
    const memory = live.subarray(first * PAGE_BYTES, end * PAGE_BYTES);
    const pages: number[] = [];
    for (let p = first; p < end; p++) pages.push(p);
    this.pageDigests.set(pageDigests(memory), first);
    const delta = { baseCallIndex: 0, baseChecksum: 0n, pages, removedInodes: [] };
    this.add(encodeSnapshot({ ...this.base, memoryPages: live.length / 65536, memory, delta }, PIECE_HEADER_BYTES));
    this.nextPage = end;
    return memory.length;
  }

  /** The transfer's chunks (every piece, in order) once done. */
  chunks(): Uint8Array[] {
    return this.pieces.flatMap((p) => cut(frame(p)));
  }

  private add(piece: Uint8Array): void {
    this.pieces.push(piece);
    this.sentBytes += piece.length;
  }
}

function diffPiece(full: SnapshotData, against: readonly bigint[]): SnapshotData {
  const pages: number[] = [];
  for (let i = 0; i < full.pageDigests.length; i++) if (i >= against.length || against[i] !== full.pageDigests[i]) pages.push(i);
  const memory = new Uint8Array(pages.length * PAGE_BYTES);
  pages.forEach((p, i) => memory.set(full.memory.subarray(p * PAGE_BYTES, (p + 1) * PAGE_BYTES), i * PAGE_BYTES));
  // The module travels only with full pieces.
  return { ...full, moduleBytes: undefined, memory, delta: { baseCallIndex: 0, baseChecksum: 0n, pages, removedInodes: [] } };
}

/** A piece's u32 length prefix. */
const PIECE_HEADER_BYTES = 4;

/** The piece with its length prefix, written in front of it when its buffer has room there (encodeSnapshot's reserve). */
function frame(piece: Uint8Array): Uint8Array {
  const out = piece.byteOffset >= PIECE_HEADER_BYTES ? new Uint8Array(piece.buffer, piece.byteOffset - PIECE_HEADER_BYTES, PIECE_HEADER_BYTES + piece.length) : new Uint8Array(PIECE_HEADER_BYTES + piece.length);
  if (out.buffer !== piece.buffer) out.set(piece, PIECE_HEADER_BYTES);
  new DataView(out.buffer, out.byteOffset, PIECE_HEADER_BYTES).setUint32(0, piece.length, true);
  return out;
}

function cut(bytes: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let o = 0; o < bytes.length; o += transferChunkBytes) chunks.push(bytes.subarray(o, Math.min(bytes.length, o + transferChunkBytes)));
  return chunks;
}

/**
 * The pieces of a transfer, from its chunks in order. Each piece is copied once, into a buffer of its own
 * (decodeSnapshot then reads it in place); chunks are never concatenated as a whole.
 */
export function pieces(chunks: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let ci = 0;
  let co = 0;
  const header = new Uint8Array(PIECE_HEADER_BYTES);
  /** Copies the next `dst.length` bytes of the chunks into dst; false when the chunks end first. */
  const take = (dst: Uint8Array): boolean => {
    let o = 0;
    while (o < dst.length) {
      if (ci >= chunks.length) return false;
      const c = chunks[ci]!;
      const n = Math.min(c.length - co, dst.length - o);
      dst.set(c.subarray(co, co + n), o);
      o += n;
      co += n;
      if (co >= c.length) {
        ci++;
        co = 0;
      }
    }
    return true;
  };
  const more = (): boolean => {
    while (ci < chunks.length && co >= chunks[ci]!.length) {
      ci++;
      co = 0;
    }
    return ci < chunks.length;
  };
  while (more()) {
    if (!take(header)) throw new MachineError('E_SNAPSHOT', 'state transfer truncated inside a piece header');
    const len = new DataView(header.buffer).getUint32(0, true);
    const piece = new Uint8Array(len);
    if (!take(piece)) throw new MachineError('E_SNAPSHOT', 'state transfer truncated inside a piece');
    out.push(piece);
  }
  return out;
}

export interface Restored {
  readonly machine: WasiMachine;
  readonly module: LoadedModule;
  /** Bytes of memory written by the transfer (for stun/transfer figures). */
  readonly pagesWritten: number;
}

/**
 * Applies a transfer: a full piece (re)builds the machine, a diff piece patches the current one. All pieces are
 * decoded and validated before anything is replaced, so a bad transfer leaves the old machine as it was.
 *
 * `between` is awaited between the long steps (after gathering the pieces, and after decoding and merging them,
 * before building the machine): a driver lets its event loop run there, so heartbeats keep flowing while a
 * large state is applied.
 */
export async function applyTransfer(
  chunks: readonly Uint8Array[],
  current: { machine: WasiMachine; module: LoadedModule } | undefined,
  devices: Devices,
  between: () => Promise<void> = async () => undefined,
): Promise<Restored> {
  let data: SnapshotData | undefined;
  let module = current?.module;
  let pagesWritten = 0;
  // The current machine is only read here, and replaced once every piece applied: no copy of its memory needed.
  let memory: Uint8Array | undefined = current?.machine.memoryView();
  // Whether `memory` is this transfer's own (a decoded full piece or a merge), which a later diff piece may
  // patch in place; the current machine's memory is never written (a failed transfer leaves it as it was).
  let own = false;
  const all = pieces(chunks);
  await between();
  for (const piece of all) {
    const d = decodeSnapshot(piece);
    if (!d.delta) {
      if (d.moduleBytes && (!module || module.hash !== d.moduleHash)) module = await loadModule(d.moduleBytes, parseUnwindMode(d.config.unwind || 'all'));
      if (!module || module.hash !== d.moduleHash) throw new MachineError('E_SNAPSHOT', 'a full state transfer without the guest module');
      memory = d.memory;
      own = true;
      pagesWritten += d.memory.length / PAGE_BYTES;
      data = d;
      continue;
    }
    if (!memory) throw new MachineError('E_SNAPSHOT', 'a diff transfer arrived, but this node holds no state to apply it to');
    let merged: Uint8Array;
    if (own && memory.length === d.memoryPages * 65536) {
      merged = memory;
    } else {
      merged = new Uint8Array(d.memoryPages * 65536);
      merged.set(memory.subarray(0, Math.min(memory.length, merged.length)));
      own = true;
    }
    d.delta.pages.forEach((p, i) => merged.set(d.memory.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES), p * PAGE_BYTES));
    pagesWritten += d.delta.pages.length;
    memory = merged;
    const { delta: _delta, ...rest } = d;
    data = { ...rest, memory: merged };
  }
  if (!data || !module) throw new MachineError('E_SNAPSHOT', 'an empty state transfer');
  await between();
  // A secondary's machine replays: it gets the input lane (machine.ts, WasiMachineOptions.inputLane).
  const machine = WasiMachine.restore(module, stateFromData(data), devices, undefined, true);
  return { machine, module, pagesWritten };
}
