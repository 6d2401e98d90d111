/**
 * Live-channel messages: plain TS shapes <-> FlatBuffers Message (schema/twinstep.fbs). The transport
 * (another module) owns sockets, auth and retries; it calls encodeMessage/decodeMessage, and, on byte
 * streams, wraps each message in a frame (encodeMessageFrame / FrameReader + decodeMessage).
 *
 * Every message carries vmId and epoch (the receiver drops messages from other VMs or older epochs before
 * looking at the body). Entries bodies carry an EntryBatch with its hash-chain ends; the receiver feeds the
 * decoded batch to its HashChain.accept to verify continuity across messages.
 */
import { Builder, type ByteBuffer } from 'flatbuffers';
import { Message as MessageFb } from '../../schema/generated/twinstep/message.js';
import { Body } from '../../schema/generated/twinstep/body.js';
import { Hello } from '../../schema/generated/twinstep/hello.js';
import { Challenge } from '../../schema/generated/twinstep/challenge.js';
import { Auth } from '../../schema/generated/twinstep/auth.js';
import { EntryBatch } from '../../schema/generated/twinstep/entry-batch.js';
import { Ack } from '../../schema/generated/twinstep/ack.js';
import { MatchAck } from '../../schema/generated/twinstep/match-ack.js';
import { Heartbeat } from '../../schema/generated/twinstep/heartbeat.js';
import { Divergence } from '../../schema/generated/twinstep/divergence.js';
import { PageHashes } from '../../schema/generated/twinstep/page-hashes.js';
import { CheckpointChunk } from '../../schema/generated/twinstep/checkpoint-chunk.js';
import { ResyncDone } from '../../schema/generated/twinstep/resync-done.js';
import { ErrorReport } from '../../schema/generated/twinstep/error-report.js';
import type { LogEntry } from './entry.ts';
import { LogFormatError } from './errors.ts';
import { buildEntryBatch, readEntryBatch } from './entry-codec.ts';
import { checkLength, readFlat, safeNumber } from './checked-buffer.ts';
import { encodeFrame, FrameType } from './frame.ts';

export type MessageBody =
  | { readonly type: 'hello'; readonly formatVersion: number; readonly node: string; readonly createdBy: string }
  | { readonly type: 'challenge'; readonly nonce: Uint8Array }
  | { readonly type: 'auth'; readonly nonce: Uint8Array; readonly hmac: Uint8Array }
  /** prevChecksum: chain value before entries[0]; lastChecksum: computed on encode, verified on decode. */
  | { readonly type: 'entries'; readonly entries: readonly LogEntry[]; readonly prevChecksum: bigint; readonly lastChecksum?: bigint }
  /** Entries with seq < endSeq received. */
  | { readonly type: 'ack'; readonly endSeq: number }
  /** Outputs with seq < endSeq compared equal. */
  | { readonly type: 'matchAck'; readonly endSeq: number }
  | { readonly type: 'heartbeat'; readonly seq: number; readonly tick: number }
  | { readonly type: 'divergence'; readonly seq: number; readonly reason: string }
  | { readonly type: 'pageHashes'; readonly callIndex: number; readonly firstPage: number; readonly digests: readonly bigint[] }
  | {
      readonly type: 'checkpointChunk';
      readonly callIndex: number;
      readonly index: number;
      readonly count: number;
      /** Envelope checksum of the whole encoded snapshot. */
      readonly hash: bigint;
      readonly bytes: Uint8Array;
    }
  | { readonly type: 'resyncDone'; readonly callIndex: number }
  | { readonly type: 'error'; readonly code: string; readonly text: string };

export interface Message {
  readonly vmId: string;
  /** Lease epoch of the sender. */
  readonly epoch: number;
  readonly body: MessageBody;
}

function u64(n: number, what: string): bigint {
  if (!Number.isSafeInteger(n) || n < 0) throw new LogFormatError('E_ENTRY', `${what} ${n} must be a non-negative safe integer`);
  return BigInt(n);
}
function u32(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new LogFormatError('E_ENTRY', `${what} ${n} is not a uint32`);
  return n;
}

export function encodeMessage(msg: Message): Uint8Array {
  const b = new Builder(256);
  const body = msg.body;
  let type: Body;
  let off: number;
  switch (body.type) {
    case 'hello': {
      type = Body.Hello;
      off = Hello.createHello(b, body.formatVersion, b.createString(body.node), b.createString(body.createdBy));
      break;
    }
    case 'challenge':
      type = Body.Challenge;
      off = Challenge.createChallenge(b, b.createByteVector(body.nonce));
      break;
    case 'auth':
      type = Body.Auth;
      off = Auth.createAuth(b, b.createByteVector(body.nonce), b.createByteVector(body.hmac));
      break;
    case 'entries': {
      type = Body.EntryBatch;
      const built = buildEntryBatch(b, body.entries, body.prevChecksum);
      if (body.lastChecksum !== undefined && body.lastChecksum !== built.lastChecksum) {
        throw new LogFormatError('E_CHAIN', 'entries message: given lastChecksum does not match the entries');
      }
      off = built.offset;
      break;
    }
    case 'ack':
      type = Body.Ack;
      off = Ack.createAck(b, u64(body.endSeq, 'ack endSeq'));
      break;
    case 'matchAck':
      type = Body.MatchAck;
      off = MatchAck.createMatchAck(b, u64(body.endSeq, 'matchAck endSeq'));
      break;
    case 'heartbeat':
      type = Body.Heartbeat;
      off = Heartbeat.createHeartbeat(b, u64(body.seq, 'heartbeat seq'), u64(body.tick, 'heartbeat tick'));
      break;
    case 'divergence':
      type = Body.Divergence;
      off = Divergence.createDivergence(b, u64(body.seq, 'divergence seq'), b.createString(body.reason));
      break;
    case 'pageHashes': {
      type = Body.PageHashes;
      const d = PageHashes.createDigestsVector(b, body.digests.map((x) => BigInt.asUintN(64, x)));
      off = PageHashes.createPageHashes(b, u64(body.callIndex, 'callIndex'), u32(body.firstPage, 'firstPage'), d);
      break;
    }
    case 'checkpointChunk': {
      type = Body.CheckpointChunk;
      const bytes = b.createByteVector(body.bytes);
      off = CheckpointChunk.createCheckpointChunk(
        b,
        u64(body.callIndex, 'callIndex'),
        u32(body.index, 'chunk index'),
        u32(body.count, 'chunk count'),
        BigInt.asUintN(64, body.hash),
        bytes,
      );
      break;
    }
    case 'resyncDone':
      type = Body.ResyncDone;
      off = ResyncDone.createResyncDone(b, u64(body.callIndex, 'callIndex'));
      break;
    case 'error':
      type = Body.ErrorReport;
      off = ErrorReport.createErrorReport(b, b.createString(body.code), b.createString(body.text));
      break;
    default:
      throw new LogFormatError('E_ENTRY', `unknown message type ${(body as { type: string }).type}`);
  }
  const vm = b.createString(msg.vmId);
  b.finish(MessageFb.createMessage(b, vm, u64(msg.epoch, 'epoch'), type, off));
  return b.asUint8Array();
}

/** encodeMessage wrapped in a Message frame, for byte-stream transports. */
export function encodeMessageFrame(msg: Message): Uint8Array {
  return encodeFrame(FrameType.Message, encodeMessage(msg));
}

function bytesOf(arr: Uint8Array | null): Uint8Array {
  // Copy: the message buffer may be reused by the caller, these outlive it.
  return arr ? arr.slice() : new Uint8Array(0);
}

function readBody(m: MessageFb, bb: ByteBuffer): MessageBody {
  const type = m.bodyType();
  const missing = (): never => {
    throw new LogFormatError('E_MALFORMED', `message body of type ${type} missing`);
  };
  switch (type) {
    case Body.Hello: {
      const h: Hello = m.body(new Hello()) ?? missing();
      return { type: 'hello', formatVersion: h.formatVersion(), node: h.node() ?? '', createdBy: h.createdBy() ?? '' };
    }
    case Body.Challenge: {
      const c: Challenge = m.body(new Challenge()) ?? missing();
      return { type: 'challenge', nonce: bytesOf(c.nonceArray()) };
    }
    case Body.Auth: {
      const a: Auth = m.body(new Auth()) ?? missing();
      return { type: 'auth', nonce: bytesOf(a.nonceArray()), hmac: bytesOf(a.hmacArray()) };
    }
    case Body.EntryBatch: {
      const t: EntryBatch = m.body(new EntryBatch()) ?? missing();
      const { entries, prevChecksum, lastChecksum } = readEntryBatch(t, bb);
      return { type: 'entries', entries, prevChecksum, lastChecksum };
    }
    case Body.Ack: {
      const a: Ack = m.body(new Ack()) ?? missing();
      return { type: 'ack', endSeq: safeNumber(a.endSeq(), 'ack endSeq') };
    }
    case Body.MatchAck: {
      const a: MatchAck = m.body(new MatchAck()) ?? missing();
      return { type: 'matchAck', endSeq: safeNumber(a.endSeq(), 'matchAck endSeq') };
    }
    case Body.Heartbeat: {
      const h: Heartbeat = m.body(new Heartbeat()) ?? missing();
      return { type: 'heartbeat', seq: safeNumber(h.seq(), 'heartbeat seq'), tick: safeNumber(h.tick(), 'heartbeat tick') };
    }
    case Body.Divergence: {
      const d: Divergence = m.body(new Divergence()) ?? missing();
      return { type: 'divergence', seq: safeNumber(d.seq(), 'divergence seq'), reason: d.reason() ?? '' };
    }
    case Body.PageHashes: {
      const p: PageHashes = m.body(new PageHashes()) ?? missing();
      const n = checkLength(bb, p.digestsLength(), 8, 'page digests');
      const digests: bigint[] = new Array(n);
      for (let i = 0; i < n; i++) digests[i] = p.digests(i)!;
      return { type: 'pageHashes', callIndex: safeNumber(p.callIndex(), 'callIndex'), firstPage: p.firstPage(), digests };
    }
    case Body.CheckpointChunk: {
      const c: CheckpointChunk = m.body(new CheckpointChunk()) ?? missing();
      const index = c.index();
      const count = c.count();
      if (index >= count) throw new LogFormatError('E_MALFORMED', `checkpoint chunk ${index} of ${count}`);
      return {
        type: 'checkpointChunk',
        callIndex: safeNumber(c.callIndex(), 'callIndex'),
        index,
        count,
        hash: c.hash(),
        bytes: bytesOf(c.bytesArray()),
      };
    }
    case Body.ResyncDone: {
      const r: ResyncDone = m.body(new ResyncDone()) ?? missing();
      return { type: 'resyncDone', callIndex: safeNumber(r.callIndex(), 'callIndex') };
    }
    case Body.ErrorReport: {
      const e: ErrorReport = m.body(new ErrorReport()) ?? missing();
      return { type: 'error', code: e.code() ?? '', text: e.text() ?? '' };
    }
    default:
      throw new LogFormatError('E_MALFORMED', `unknown message body type ${type}`);
  }
}

/** Decodes and validates a message (E_MALFORMED / E_CHAIN; never a raw RangeError). */
export function decodeMessage(bytes: Uint8Array): Message {
  return readFlat(bytes, 'message', (bb) => {
    const m = MessageFb.getRootAsMessage(bb);
    const vmId = m.vmId() ?? '';
    const epoch = safeNumber(m.epoch(), 'epoch');
    return { vmId, epoch, body: readBody(m, bb) };
  });
}
