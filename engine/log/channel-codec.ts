/**
 * Bytes of the live logging channel: the protocol core's messages (engine/core/messages.ts) as frames.
 *
 * Layout (little endian):
 *   u8 magic 0x54 ('T') | u8 channel format version | u32 envelope bytes | envelope (JSON)
 *   | u32 attachment count | { u32 bytes | bytes }* | u64 xxh64 over everything before it
 *
 * Why this shape: log entries, the hot path, travel as one entry block (entry-block.ts: the records exactly as the
 * primary wrote them, validated record by record on receipt) in one attachment, named by the envelope's
 * `$block: { at, firstSeq, count }`; every other byte field (state chunks, outputs) and every
 * bigint array (page hashes) travels as a raw attachment, so no payload is ever inflated by JSON. The small
 * remaining envelope (types, seqs, epochs) is JSON: it is a few dozen bytes and keeps the message set easy to
 * extend. The trailing xxh64 covers the whole frame: a damaged frame is refused with E_CHECKSUM, never parsed.
 */
import { xxh64 } from '@node-rs/xxhash';
import { EntryBlock } from './entry-block.ts';
import { LogFormatError } from './errors.ts';
import { channelFormatVersion } from './version.ts';
import type { EntriesMessage, Message } from '../core/messages.ts';

const MAGIC = 0x54;
/** Largest channel message accepted (a state chunk is far smaller; see the transport's maxFrameBytes). */
export const channelMessageBytesMax = 64 * 1024 * 1024;

type Attachments = Uint8Array[];

function pack(value: unknown, att: Attachments): unknown {
  if (typeof value === 'bigint') return { $n: value.toString(16) };
  if (value instanceof Uint8Array) {
    att.push(value);
    return { $u: att.length - 1 };
  }
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every((v) => typeof v === 'bigint')) {
      const arr = BigUint64Array.from(value as bigint[], (v) => BigInt.asUintN(64, v));
      att.push(new Uint8Array(arr.buffer));
      return { $B: att.length - 1, signed: (value as bigint[]).some((v) => v < 0n) };
    }
    return value.map((v) => pack(v, att));
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = pack(v, att);
    return out;
  }
  return value;
}

function unpack(value: unknown, att: readonly Uint8Array[]): unknown {
  if (Array.isArray(value)) return value.map((v) => unpack(v, att));
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.$n === 'string') return BigInt('0x' + o.$n);
    if (typeof o.$u === 'number') return attachment(att, o.$u);
    if (typeof o.$B === 'number') {
      const raw = attachment(att, o.$B);
      if (raw.length % 8 !== 0) throw new LogFormatError('E_MALFORMED', 'channel message: bigint array attachment is not a multiple of 8 bytes');
      const copy = new Uint8Array(raw);
      const arr = Array.from(new BigUint64Array(copy.buffer));
      return o.signed ? arr.map((v) => BigInt.asIntN(64, v)) : arr;
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) out[k] = unpack(v, att);
    return out;
  }
  return value;
}

function attachment(att: readonly Uint8Array[], i: number): Uint8Array {
  if (!Number.isInteger(i) || i < 0 || i >= att.length) throw new LogFormatError('E_MALFORMED', `channel message: attachment ${i} does not exist`);
  return att[i];
}

export function encodeChannelMessage(msg: Message): Uint8Array {
  if (msg.type === 'entries') return encodeEntries(msg);
  const att: Attachments = [];
  const json = Buffer.from(JSON.stringify(pack(msg, att)));
  const size = 2 + 4 + json.length + 4 + att.reduce((n, a) => n + 4 + a.length, 0) + 8;
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  out[o++] = MAGIC;
  out[o++] = channelFormatVersion;
  out.writeUInt32LE(json.length, o); o += 4;
  json.copy(out, o); o += json.length;
  out.writeUInt32LE(att.length, o); o += 4;
  for (const a of att) {
    out.writeUInt32LE(a.length, o); o += 4;
    out.set(a, o); o += a.length;
  }
  out.writeBigUInt64LE(xxh64(out.subarray(0, o)), o);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/**
 * An entries message, the hot path (one per batch, thousands a second): the envelope is written directly (no
 * generic packing) and padded with JSON whitespace so the block's bytes start 8-byte aligned in the frame; a
 * receiver whose frame buffer is aligned (a fresh allocation, as ws makes for a large message) then reads the
 * records in place instead of copying them.
 */
function encodeEntries(msg: EntriesMessage): Uint8Array {
  const block = msg.block;
  const head = `{"type":"entries","vmId":${JSON.stringify(msg.vmId)},"epoch":${msg.epoch},"releasedSeq":${msg.releasedSeq},"lastSeq":${msg.lastSeq},"$block":{"at":0,"firstSeq":${block.firstSeq},"count":${block.count}}}`;
  const headLen = Buffer.byteLength(head);
  // magic, version, envelope length, envelope, attachment count, attachment length: then the block.
  const jsonLen = headLen + ((8 - ((2 + 4 + headLen + 4 + 4) & 7)) & 7);
  const bytes = block.bytes;
  const size = 2 + 4 + jsonLen + 4 + 4 + bytes.length + 8;
  const out = Buffer.allocUnsafe(size);
  out[0] = MAGIC;
  out[1] = channelFormatVersion;
  out.writeUInt32LE(jsonLen, 2);
  out.write(head, 6);
  out.fill(0x20, 6 + headLen, 6 + jsonLen);
  let o = 6 + jsonLen;
  out.writeUInt32LE(1, o);
  out.writeUInt32LE(bytes.length, o + 4);
  o += 8;
  out.set(bytes, o);
  o += bytes.length;
  out.writeBigUInt64LE(xxh64(out.subarray(0, o)), o);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

export function decodeChannelMessage(bytes: Uint8Array): Message {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length > channelMessageBytesMax) throw new LogFormatError('E_FRAME_SIZE', `channel message of ${b.length} bytes exceeds ${channelMessageBytesMax}`);
  if (b.length < 2 + 4 + 4 + 8) throw new LogFormatError('E_TRUNCATED', 'channel message too short');
  if (b[0] !== MAGIC) throw new LogFormatError('E_MAGIC', 'not a twinstep channel message');
  if (b[1] !== channelFormatVersion) throw new LogFormatError('E_VERSION', `channel format version ${b[1]} (this build speaks ${channelFormatVersion})`);
  const body = b.subarray(0, b.length - 8);
  if (xxh64(body) !== b.readBigUInt64LE(b.length - 8)) throw new LogFormatError('E_CHECKSUM', 'channel message checksum mismatch');
  let o = 2;
  const need = (n: number) => {
    if (o + n > body.length) throw new LogFormatError('E_TRUNCATED', `channel message truncated at byte ${o}`);
  };
  need(4);
  const jsonLen = body.readUInt32LE(o); o += 4;
  need(jsonLen);
  let envelope: Record<string, unknown>;
  try {
    envelope = JSON.parse(body.toString('utf8', o, o + jsonLen));
  } catch {
    throw new LogFormatError('E_MALFORMED', 'channel message envelope is not valid JSON');
  }
  o += jsonLen;
  need(4);
  const count = body.readUInt32LE(o); o += 4;
  if (count > 1024) throw new LogFormatError('E_MALFORMED', `channel message has ${count} attachments`);
  const att: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    need(4);
    const len = body.readUInt32LE(o); o += 4;
    need(len);
    att.push(new Uint8Array(body.buffer, body.byteOffset + o, len));
    o += len;
  }
  if (o !== body.length) throw new LogFormatError('E_MALFORMED', `channel message has ${body.length - o} trailing bytes`);
  if (!envelope || typeof envelope !== 'object' || typeof envelope.type !== 'string' || typeof envelope.vmId !== 'string' || typeof envelope.epoch !== 'number') {
    throw new LogFormatError('E_MALFORMED', 'channel message lacks type, vmId or epoch');
  }
  const blockAt = envelope.$block as { at?: unknown; firstSeq?: unknown; count?: unknown } | undefined;
  delete envelope.$block;
  const msg = unpack(envelope, att) as Record<string, unknown>;
  if (envelope.type === 'entries') {
    if (!blockAt || typeof blockAt !== 'object' || typeof blockAt.at !== 'number' || typeof blockAt.firstSeq !== 'number' || typeof blockAt.count !== 'number') {
      throw new LogFormatError('E_MALFORMED', 'channel message: entries without a block');
    }
    msg.block = EntryBlock.decode(attachment(att, blockAt.at), blockAt.firstSeq, blockAt.count);
  }
  return msg as unknown as Message;
}
