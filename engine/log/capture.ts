/**
 * The capture format: how the recording thread hands raw log entries to the encoder thread
 * (trace-offload.ts). Entries are appended to chunks (transferable ArrayBuffers) as fixed headers plus
 * bytes, with no encoding, no hashing and no objects: the cheapest thing the recording thread can do per
 * host call. The encoder thread turns them into batch frames (entry-codec.ts) exactly as the in-thread
 * writer would, so a trace is byte-identical whichever thread encoded it.
 *
 * Record: kind u8 | call id u8 | custom name length u16 | channel i32 | call index f64 | request length u32 |
 * data length u32 | custom name (when call id is callIdCustom) | request | data. Little-endian throughout.
 */
import { callId, callIdCustom, callName } from './call-table.ts';
import type { EntryKind } from './entry.ts';

export const captureHeaderBytes = 24;
/** Chunk size: entries of a chunk travel together (one message per chunk). */
export const captureChunkBytes = 256 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Appends entries to chunks; `take()` hands the filled chunk over and starts a new one. */
export class CaptureChunk {
  buf: ArrayBuffer;
  private u8: Uint8Array;
  private dv: DataView;
  pos = 0;
  /** Entries in this chunk. */
  entries = 0;
  private lastCall = '';
  private lastId = 0;

  constructor(size = captureChunkBytes) {
    this.buf = new ArrayBuffer(size);
    this.u8 = new Uint8Array(this.buf);
    this.dv = new DataView(this.buf);
  }

  /** Bytes an entry takes in a chunk. */
  static recordBytes(call: string, request: Uint8Array, data: Uint8Array): number {
    return captureHeaderBytes + (callId(call) === callIdCustom ? encoder.encode(call).length : 0) + request.length + data.length;
  }

  /** Appends an entry; false (nothing written) when it does not fit in the room left. */
  add(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): boolean {
    let id = this.lastId;
    if (call !== this.lastCall) {
      id = callId(call);
      this.lastCall = call;
      this.lastId = id;
    }
    const name = id === callIdCustom ? encoder.encode(call) : undefined;
    const reqLen = request.length;
    const dataLen = data.length;
    const p = this.pos;
    const end = p + captureHeaderBytes + (name?.length ?? 0) + reqLen + dataLen;
    if (end > this.u8.length) return false;
    const u8 = this.u8;
    const dv = this.dv;
    u8[p] = kind;
    u8[p + 1] = id;
    dv.setUint16(p + 2, name?.length ?? 0, true);
    dv.setInt32(p + 4, channel, true);
    dv.setFloat64(p + 8, callIndex, true);
    dv.setUint32(p + 16, reqLen, true);
    dv.setUint32(p + 20, dataLen, true);
    let q = p + captureHeaderBytes;
    if (name !== undefined) {
      u8.set(name, q);
      q += name.length;
    }
    if (reqLen <= 16) for (let k = 0; k < reqLen; k++) u8[q + k] = request[k]!;
    else u8.set(request, q);
    q += reqLen;
    if (dataLen <= 16) for (let k = 0; k < dataLen; k++) u8[q + k] = data[k]!;
    else u8.set(data, q);
    this.pos = end;
    this.entries++;
    return true;
  }
}

/** A captured entry as the encoder thread reads it (views into the chunk). */
export interface CapturedEntry {
  kind: EntryKind;
  callIndex: number;
  call: string;
  channel: number;
  request: Uint8Array;
  data: Uint8Array;
}

/** Calls `each` for every entry of a chunk's first `len` bytes (one reused CapturedEntry). */
export function readCapture(buf: ArrayBuffer, len: number, each: (e: CapturedEntry) => void): number {
  const u8 = new Uint8Array(buf, 0, len);
  const dv = new DataView(buf, 0, len);
  const e: CapturedEntry = { kind: 0 as EntryKind, callIndex: 0, call: '', channel: 0, request: u8, data: u8 };
  let p = 0;
  let n = 0;
  while (p < len) {
    if (p + captureHeaderBytes > len) throw new Error(`capture chunk: header runs past ${len} bytes`);
    const id = u8[p + 1]!;
    const nameLen = dv.getUint16(p + 2, true);
    const reqLen = dv.getUint32(p + 16, true);
    const dataLen = dv.getUint32(p + 20, true);
    let q = p + captureHeaderBytes;
    if (q + nameLen + reqLen + dataLen > len) throw new Error(`capture chunk: entry at ${p} runs past ${len} bytes`);
    e.kind = u8[p] as EntryKind;
    e.channel = dv.getInt32(p + 4, true);
    e.callIndex = dv.getFloat64(p + 8, true);
    if (id === callIdCustom) {
      e.call = decoder.decode(u8.subarray(q, q + nameLen));
      q += nameLen;
    } else {
      const name = callName(id);
      if (name === undefined) throw new Error(`capture chunk: unknown call id ${id}`);
      e.call = name;
    }
    e.request = u8.subarray(q, q + reqLen);
    q += reqLen;
    e.data = u8.subarray(q, q + dataLen);
    p = q + dataLen;
    each(e);
    n++;
  }
  return n;
}
