/**
 * The capture format: how the recording thread hands raw log entries to the encoder thread
 * (trace-offload.ts). Entries are appended to chunks (transferable ArrayBuffers) as fixed headers plus
 * bytes, with no encoding, no hashing and no objects: the cheapest thing the recording thread can do per
 * host call. The encoder thread turns them into batch frames (entry-codec.ts) exactly as the in-thread
 * writer would, so a trace is byte-identical whichever thread encoded it.
 *
 * Record (8-byte aligned, so the header is written with four typed-array stores rather than a DataView):
 *   i32 kind | call id << 8 | custom name length << 16 ; i32 channel ; f64 call index ;
 *   i32 request length, or SAME_REQUEST ; i32 data length ; custom name ; request ; data ; zeros to 8.
 * Every byte of a record is written (its padding too), so a chunk written into a reused buffer holds exactly what
 * one written into a fresh buffer would.
 * SAME_REQUEST: the request is the very array captured last for this call id (host requests are never changed
 * once handed out, machine.ts HostCallHandler), so its bytes are not copied again; the reader keeps the last
 * request per call id. That holds across the chunks of one recording, which are read in order. Little-endian.
 *
 * Packed runs (chunks made with `packRuns`: the trace's capture and the pair's entry blocks): entries that repeat
 * the last one in all but data (same kind, call, channel, request array, and result array: one of 8 or 16 bytes)
 * at consecutive call indices share one record:
 *   i32 kind | call id << 8 ; i32 channel ; f64 first call index ; i32 PACKED_RUN ; i32 data length (per entry) ;
 *   i32 count ; i32 0 ; then `count` data fields back to back.
 * Entry k of the run has call index first + k and the request captured last for its call id. A clock read then
 * costs the recording thread 8 bytes and three stores instead of a 32-byte record: a quarter of the bytes to
 * ship to the encoder thread, and of the cache lines the two threads pass between them.
 */
import { callId, callIdCustom, callIdsUsed, callName } from './call-table.ts';
import type { EntryKind } from './entry.ts';

export const captureHeaderBytes = 24;
/** Chunk size: entries of a chunk travel together (one message per chunk). */
export const captureChunkBytes = 256 * 1024;
/** Request length of a record whose request repeats the last one of its call id. */
export const SAME_REQUEST = -1;
/** Request length of a packed run (see the module comment): a count word, then the data of each entry. */
export const PACKED_RUN = -2;
/** Header of a packed run: the record header and the count word (with its padding). */
export const packedRunHeaderBytes = captureHeaderBytes + 8;

/**
 * Whether entries with `dataLen` bytes of data pack: 8 or 16 (whole 8-byte words, so the records after a run stay
 * 8-byte aligned). The one rule the writer and both readers (CaptureReader, EntryBlock.decode) apply.
 */
export function packedDataLength(dataLen: number): boolean {
  return dataLen === 8 || dataLen === 16;
}
/** Call ids are one byte. */
const callIds = 256;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** The requests a recording captured last, by call id (shared by the chunks of one recording). */
export type CapturedRequests = Array<Uint8Array | undefined>;

export function capturedRequests(): CapturedRequests {
  return new Array<Uint8Array | undefined>(callIds).fill(undefined);
}

/** Appends entries to one chunk; the writer ships a full chunk and starts a new one. */
export class CaptureChunk {
  readonly buf: ArrayBuffer;
  private readonly u8: Uint8Array;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  pos = 0;
  /** Entries in this chunk. */
  entries = 0;
  /** Their request and data bytes (a repeated request counted in full, as the reader hands it on). */
  payload = 0;
  private lastCall = '';
  private lastId = 0;

  /**
   * `reuse`: a chunk's buffer handed back by the reader (its old records are overwritten, never read).
   * `packRuns`: repeated entries go into packed runs (see the module comment), for readers that take them
   * (CaptureReader, EntryBlock.decode).
   */
  constructor(
    private readonly requests: CapturedRequests,
    size = captureChunkBytes,
    reuse?: ArrayBuffer,
    private readonly packRuns = false,
  ) {
    this.buf = reuse !== undefined && reuse.byteLength === align8(size) ? reuse : new ArrayBuffer(align8(size));
    this.u8 = new Uint8Array(this.buf);
    this.i32 = new Int32Array(this.buf);
    this.f64 = new Float64Array(this.buf);
  }

  /** Bytes an entry takes in a chunk at most (its request copied). */
  static recordBytes(call: string, request: Uint8Array, data: Uint8Array): number {
    return align8(captureHeaderBytes + (callId(call) === callIdCustom ? encoder.encode(call).length : 0) + request.length + data.length);
  }

  /**
   * The repeat case, the most frequent entry of a host-call-heavy guest (a clock read: the same call, the same
   * request array, the result in the array the host refills): the result array of the last entry written by
   * the general path, as words, when it has 1 to 4 whole words at a word-aligned offset (else undefined).
   */
  private fastData: Uint8Array | undefined;
  private fastWords: Int32Array | undefined;
  /** Per call id: the result array of its last general-path entry (a candidate for the repeat case). */
  private readonly seenData: Array<Uint8Array | undefined> = new Array<Uint8Array | undefined>(callIdsUsed).fill(undefined);
  /** Per call id: the word view made for a result array that came back, and that array. */
  private readonly wordsById: Array<Int32Array | undefined> = new Array<Int32Array | undefined>(callIdsUsed).fill(undefined);
  private readonly wordsOf: Array<Uint8Array | undefined> = new Array<Uint8Array | undefined>(callIdsUsed).fill(undefined);

  /** The open packed run: its record's word offset (-1: none), head word, channel and the call index it expects next. */
  private runW = -1;
  private runHead = 0;
  private runChannel = 0;
  private runNext = 0;

  /** Appends an entry; false (nothing written) when it does not fit in the room left. */
  add(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): boolean {
    // The repeat case: same call, same request (so SAME_REQUEST), same result array, and room.
    if (data === this.fastData && call === this.lastCall && request === this.requests[this.lastId]) {
      const words = this.fastWords!;
      if (this.packRuns) {
        if (packedDataLength(words.length << 2)) return this.addPacked(kind, callIndex, channel, request, words);
        // A record between closes the open run (a run is always the chunk's last record while it grows).
        this.runW = -1;
      }
      // The view's length is the array's (both are 0 if its buffer was detached meanwhile).
      const dataLen = words.length << 2;
      const p = this.pos;
      const end = align8(p + captureHeaderBytes + dataLen);
      if (end <= this.u8.length) {
        const w = p >> 2;
        const i32 = this.i32;
        i32[w] = kind | (this.lastId << 8);
        i32[w + 1] = channel;
        this.f64[(p >> 3) + 1] = callIndex;
        i32[w + 4] = SAME_REQUEST;
        i32[w + 5] = dataLen;
        for (let k = 0; k < words.length; k++) i32[w + 6 + k] = words[k]!;
        // Padding is written too: a buffer may be reused (its old bytes must not show through).
        if ((words.length & 1) !== 0) i32[w + 6 + words.length] = 0;
        this.pos = end;
        this.entries++;
        this.payload += request.length + dataLen;
        return true;
      }
    }
    return this.addGeneral(kind, callIndex, call, channel, request, data);
  }

  /**
   * The repeat case of a packing chunk: the entry joins the open run when it continues it (same head and channel,
   * the next call index), else it opens a run of its own. Only results of 8 or 16 bytes come here
   * (packedDataLength).
   */
  private addPacked(kind: EntryKind, callIndex: number, channel: number, request: Uint8Array, words: Int32Array): boolean {
    const n = words.length;
    const dataLen = n << 2;
    const i32 = this.i32;
    const head = kind | (this.lastId << 8);
    let p = this.pos;
    const w = this.runW;
    if (w >= 0 && callIndex === this.runNext && head === this.runHead && channel === this.runChannel) {
      if (p + dataLen > this.u8.length) return false;
      i32[w + 6]++;
    } else {
      if (p + packedRunHeaderBytes + dataLen > this.u8.length) return false;
      p = this.openRun(p, head, channel, callIndex, dataLen, 1);
    }
    this.runNext = callIndex + 1;
    const q = p >> 2;
    for (let k = 0; k < n; k++) i32[q + k] = words[k]!;
    this.pos = p + dataLen;
    this.entries++;
    this.payload += request.length + dataLen;
    return true;
  }

  /** Writes the header of a packed run of `count` entries at byte `p` and makes it the open run; returns where its data goes. */
  private openRun(p: number, head: number, channel: number, first: number, dataLen: number, count: number): number {
    const w = p >> 2;
    const i32 = this.i32;
    i32[w] = head;
    i32[w + 1] = channel;
    this.f64[(p >> 3) + 1] = first;
    i32[w + 4] = PACKED_RUN;
    i32[w + 5] = dataLen;
    i32[w + 6] = count;
    i32[w + 7] = 0;
    this.runW = w;
    this.runHead = head;
    this.runChannel = channel;
    return p + packedRunHeaderBytes;
  }

  /**
   * A run of `count` entries at call indices `first`, `first + 1`, ... that repeat the last entry of their call in
   * all but data (an input run, engine/machine/input-run.ts): each has the request captured last for the call id
   * (`request` must be that very array) and `width` words of data, back to back in `words`. Goes into a packed
   * run (the open one when it continues it). Returns how many entries it took: fewer than `count` when the chunk
   * is full, 0 when nothing fits or the entries cannot be packed here (a chunk without packRuns, a custom call, a
   * request that is not the last captured); the caller adds the rest on another chunk or one by one.
   */
  addRun(kind: EntryKind, first: number, call: string, channel: number, request: Uint8Array, words: Int32Array, width: number, count: number): number {
    if (!this.packRuns || request.length === 0 || !packedDataLength(width << 2)) return 0;
    let id = this.lastId;
    if (call !== this.lastCall) {
      id = callId(call);
      if (id === callIdCustom) return 0;
      this.lastCall = call;
      this.lastId = id;
      // The repeat case follows the last general entry of its call: after a run of another call, none.
      this.fastData = undefined;
    }
    if (this.requests[id] !== request) return 0;
    const dataLen = width << 2;
    const i32 = this.i32;
    const head = kind | (id << 8);
    let p = this.pos;
    const w = this.runW;
    let n: number;
    if (w >= 0 && first === this.runNext && head === this.runHead && channel === this.runChannel) {
      n = Math.min(count, Math.floor((this.u8.length - p) / dataLen));
      if (n <= 0) return 0;
      i32[w + 6] += n;
    } else {
      n = Math.min(count, Math.floor((this.u8.length - p - packedRunHeaderBytes) / dataLen));
      if (n <= 0) return 0;
      p = this.openRun(p, head, channel, first, dataLen, n);
    }
    i32.set(n * width === words.length ? words : words.subarray(0, n * width), p >> 2);
    this.runNext = first + n;
    this.pos = p + n * dataLen;
    this.entries += n;
    this.payload += n * (request.length + dataLen);
    return n;
  }

  private addGeneral(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): boolean {
    this.runW = -1;
    let id = this.lastId;
    if (call !== this.lastCall) {
      id = callId(call);
      this.lastCall = call;
      this.lastId = id;
    }
    if (id === callIdCustom) return this.addCustom(kind, callIndex, call, channel, request, data);
    const requests = this.requests;
    const same = requests[id] === request && request.length > 0;
    const reqLen = same ? 0 : request.length;
    const dataLen = data.length;
    const p = this.pos;
    const end = align8(p + captureHeaderBytes + reqLen + dataLen);
    const u8 = this.u8;
    if (end > u8.length) return false;
    const w = p >> 2;
    const i32 = this.i32;
    i32[w] = kind | (id << 8);
    i32[w + 1] = channel;
    this.f64[(p >> 3) + 1] = callIndex;
    i32[w + 4] = same ? SAME_REQUEST : reqLen;
    i32[w + 5] = dataLen;
    let q = p + captureHeaderBytes;
    if (!same) {
      if (reqLen <= 16) for (let k = 0; k < reqLen; k++) u8[q + k] = request[k]!;
      else u8.set(request, q);
      q += reqLen;
      requests[id] = request;
    }
    // Next time, the same call with the same request and result array takes the repeat case (requests[id] is
    // this request now, so the repeat is a SAME_REQUEST one). Only an array that came back for this call gets a
    // word view: a host that hands out a new array per call (random bytes, say) would otherwise pay for a view
    // per entry, and reading `.buffer` of a small array makes V8 move its bytes off the heap (an allocation, and
    // later a sweep). The views are kept per call id, so a call that comes back after another costs none.
    const fast = dataLen > 0 && dataLen <= 16 && (dataLen & 3) === 0 && request.length > 0;
    if (fast && this.seenData[id] === data) {
      if (this.fastData !== data) {
        this.fastData = data;
        // The view made for this very array, if any (undefined for an unaligned one); an array's length does not
        // change (a detached one has length 0 and never gets here), so neither does its view.
        let words = this.wordsById[id];
        if (this.wordsOf[id] !== data) {
          words = (data.byteOffset & 3) === 0 ? new Int32Array(data.buffer, data.byteOffset, dataLen >> 2) : undefined;
          this.wordsById[id] = words;
          this.wordsOf[id] = data;
        }
        this.fastWords = words;
        if (words === undefined) this.fastData = undefined;
      }
    } else {
      this.fastData = undefined;
      this.seenData[id] = fast ? data : undefined;
    }
    // A result array that comes back takes the repeat case from its next entry on; here its bytes are copied.
    if (dataLen <= 16) {
      for (let k = 0; k < dataLen; k++) u8[q + k] = data[k]!;
    } else {
      u8.set(data, q);
    }
    for (let k = q + dataLen; k < end; k++) u8[k] = 0;
    this.pos = end;
    this.entries++;
    this.payload += request.length + dataLen;
    return true;
  }

  /** An entry whose call is not in the call table: its name travels with it, its request is always copied. */
  private addCustom(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): boolean {
    this.runW = -1;
    const name = encoder.encode(call);
    const p = this.pos;
    const end = align8(p + captureHeaderBytes + name.length + request.length + data.length);
    if (end > this.u8.length) return false;
    const w = p >> 2;
    this.i32[w] = kind | (callIdCustom << 8) | (name.length << 16);
    this.i32[w + 1] = channel;
    this.f64[(p >> 3) + 1] = callIndex;
    this.i32[w + 4] = request.length;
    this.i32[w + 5] = data.length;
    let q = p + captureHeaderBytes;
    this.u8.set(name, q);
    q += name.length;
    this.u8.set(request, q);
    q += request.length;
    this.u8.set(data, q);
    this.u8.fill(0, q + data.length, end);
    this.pos = end;
    this.entries++;
    this.payload += request.length + data.length;
    return true;
  }
}

/**
 * Adds an input run (engine/machine/input-run.ts: `count` entries that repeat the one added last for `call` in all
 * but data) through a writer's current chunk as packed runs, and one entry the general way (`addOne(k)`: entry k,
 * through the writer's add) whenever the chunk takes none: it is full (the general way moves on to a new chunk)
 * or cannot pack the run here (the request is not its last for the call since a reset: the general way registers
 * it). No chunk (a writer not capturing yet): every entry the general way. The trace writer's capture and the
 * pair's entry blocks both add runs so.
 */
export function addRunThrough(
  chunk: () => CaptureChunk | undefined, addOne: (k: number) => void,
  kind: EntryKind, first: number, call: string, channel: number, request: Uint8Array, words: Int32Array, width: number, count: number,
): void {
  let done = 0;
  while (done < count) {
    const n = chunk()?.addRun(kind, first + done, call, channel, request, done === 0 ? words : words.subarray(done * width), width, count - done) ?? 0;
    if (n > 0) {
      done += n;
      continue;
    }
    addOne(done);
    done++;
  }
}

/** Receives the entries of a chunk from CaptureReader.read: payload bytes as ranges of `src`, no views made. */
export interface CaptureTarget {
  addRange(kind: EntryKind, callIndex: number, id: number, call: string, channel: number, req: Uint8Array, reqAt: number, reqLen: number, data: Uint8Array, dataAt: number, dataLen: number): void;
  /**
   * A run of `count` entries that differ only in call index and data: the same kind, call (a table id), channel
   * and request (all of `req`), and `dataLen` data bytes each. Entry k's call index is `indexes[(at >> 3) + 1 +
   * k * (stride >> 3)]` and its data starts at byte `at + captureHeaderBytes + k * stride` of `src` (a capture
   * chunk: the records of a run are consecutive and of one size). The same as `count` addRange calls.
   */
  addRepeats(kind: EntryKind, id: number, call: string, channel: number, req: Uint8Array, src: Uint8Array, indexes: Float64Array, at: number, stride: number, dataLen: number, count: number): void;
  /**
   * A packed run (see the module comment): `count` entries at call indices `first`, `first + 1`, ... that differ
   * only in data: the same kind, call (a table id), channel and request (all of `req`); entry k's `dataLen` data
   * bytes start at byte `at + k * dataLen` of `src`. The same as `count` addRange calls.
   */
  addPacked(kind: EntryKind, id: number, call: string, channel: number, req: Uint8Array, src: Uint8Array, at: number, first: number, dataLen: number, count: number): void;
}

/** Runs shorter than this go entry by entry (addRange): a run's set-up costs about as much as a few entries. */
const repeatsMin = 4;

/**
 * The reading side: keeps the last request per call id across the chunks of one recording (read them in
 * order) and hands each entry to a target without making objects.
 */
export class CaptureReader {
  private readonly requests: CapturedRequests = capturedRequests();

  /** Calls target.addRange for every entry of a chunk's first `len` bytes; returns the count. */
  read(buf: ArrayBuffer, len: number, target: CaptureTarget): number {
    if (len % 8 !== 0 || len > buf.byteLength) throw new Error(`capture chunk: length ${len} is not a whole number of records`);
    const u8 = new Uint8Array(buf, 0, len);
    const i32 = new Int32Array(buf, 0, len >> 2);
    const f64 = new Float64Array(buf, 0, len >> 3);
    const requests = this.requests;
    let p = 0;
    let n = 0;
    while (p < len) {
      if (p + captureHeaderBytes > len) throw new Error(`capture chunk: header runs past ${len} bytes`);
      const w = p >> 2;
      const head = i32[w]!;
      const kind = (head & 0xff) as EntryKind;
      const id = (head >>> 8) & 0xff;
      const nameLen = head >>> 16;
      const channel = i32[w + 1]!;
      const callIndex = f64[(p >> 3) + 1]!;
      let reqLen = i32[w + 4]!;
      const dataLen = i32[w + 5]!;
      let q = p + captureHeaderBytes;
      const copied = reqLen === SAME_REQUEST || reqLen === PACKED_RUN ? 0 : reqLen;
      if (copied < 0 || dataLen < 0 || q + nameLen + copied + dataLen > len) throw new Error(`capture chunk: entry at ${p} runs past ${len} bytes`);
      let call: string;
      if (id === callIdCustom) {
        call = decoder.decode(u8.subarray(q, q + nameLen));
        q += nameLen;
      } else {
        const name = callName(id);
        if (name === undefined) throw new Error(`capture chunk: unknown call id ${id}`);
        call = name;
      }
      let req: Uint8Array = u8;
      let reqAt = q;
      if (reqLen === PACKED_RUN) {
        const last = requests[id];
        if (last === undefined || id === callIdCustom) throw new Error(`capture chunk: packed run at ${p} repeats a request of call id ${id} never captured`);
        if (p + packedRunHeaderBytes > len) throw new Error(`capture chunk: packed run at ${p}: its header runs past ${len} bytes`);
        const count = i32[w + 6]!;
        if (count < 1) throw new Error(`capture chunk: packed run at ${p} of ${count} entries`);
        if (!packedDataLength(dataLen)) throw new Error(`capture chunk: packed run at ${p} of ${dataLen}-byte data (8 or 16)`);
        if (p + packedRunHeaderBytes + count * dataLen > len) throw new Error(`capture chunk: packed run at ${p} (${count} entries of ${dataLen} bytes) runs past ${len} bytes`);
        const at = p + packedRunHeaderBytes;
        if (count >= repeatsMin) target.addPacked(kind, id, call, channel, last, u8, at, callIndex, dataLen, count);
        else for (let k = 0; k < count; k++) target.addRange(kind, callIndex + k, id, call, channel, last, 0, last.length, u8, at + k * dataLen, dataLen);
        p += packedRunHeaderBytes + count * dataLen;
        n += count;
        continue;
      }
      if (reqLen === SAME_REQUEST) {
        const last = requests[id];
        if (last === undefined || id === callIdCustom) throw new Error(`capture chunk: entry at ${p} repeats a request of call id ${id} never captured`);
        // A run: the records that follow with the same head, channel, repeated request and data length (so the
        // same size) go to the target at once.
        const stride = align8(captureHeaderBytes + dataLen);
        let end = p + stride;
        while (end + stride <= len && i32[end >> 2] === head && i32[(end >> 2) + 1] === channel && i32[(end >> 2) + 4] === SAME_REQUEST && i32[(end >> 2) + 5] === dataLen) end += stride;
        const count = (end - p) / stride;
        if (count >= repeatsMin) {
          target.addRepeats(kind, id, call, channel, last, u8, f64, p, stride, dataLen, count);
          p = end;
          n += count;
          continue;
        }
        req = last;
        reqAt = 0;
        reqLen = last.length;
      } else {
        if (id !== callIdCustom && reqLen > 0) requests[id] = u8.slice(q, q + reqLen);
        q += reqLen;
      }
      target.addRange(kind, callIndex, id, call, channel, req, reqAt, reqLen, u8, q, dataLen);
      p = align8(q + dataLen);
      n++;
    }
    return n;
  }
}
