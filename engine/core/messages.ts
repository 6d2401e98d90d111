/**
 * Messages of the logging channel between a primary and a secondary, as plain data. engine/log maps them to
 * bytes; the core never sees bytes. Every message carries the VM id and the sender's epoch: a receiver drops a
 * message for another VM (E_VM_MISMATCH) or from an older epoch (E_STALE_EPOCH).
 *
 * Seq values are log positions (LogEntry.seq); -1 means "none yet". Every "...Seq" that acknowledges something
 * is CUMULATIVE: it covers every entry at or below it, so a lost or reordered ack is repaired by the next one.
 */
import type { EntryBlock } from '../log/entry-block.ts';

/** An output as it travels with the log: the seq of its Output entry, and its bytes. */
export interface OutputRecord {
  readonly seq: number;
  readonly callIndex: number;
  readonly channel: number;
  readonly data: Uint8Array;
}

export interface Envelope {
  readonly vmId: string;
  /** Bumped by the primary on every resync, re-protect and role change; the secondary adopts it with a transfer. */
  readonly epoch: number;
}

// ---- primary → secondary -------------------------------------------------------------------------------

/**
 * A batch of consecutive log entries (also used for retransmission): one entry block (engine/log/entry-block.ts),
 * entries block.firstSeq .. block.lastSeq. Blocks are immutable, so a message may share one with the sender's
 * retransmission log.
 */
export interface EntriesMessage extends Envelope {
  readonly type: 'entries';
  readonly block: EntryBlock;
  /** Highest seq such that every output at or below it has left the primary's gate (released, or dropped after the secondary dispatched it). */
  readonly releasedSeq: number;
  /** Highest seq the primary has assigned: lets the secondary see a gap at the tail. */
  readonly lastSeq: number;
}

export type PrimaryMode = 'unprotected' | 'protecting' | 'protected' | 'resyncing';

export interface PrimaryHeartbeat extends Envelope {
  readonly type: 'primary-heartbeat';
  readonly lastSeq: number;
  readonly releasedSeq: number;
  readonly mode: PrimaryMode;
  /** The join this primary is protected by (null: the boot pairing). A secondary that sees another id was replaced. */
  readonly joinId: string | null;
}

/** One piece of a state transfer (full snapshot, pre-copy, dirty delta or resync diff); opaque to the core. */
export interface StateChunkMessage extends Envelope {
  readonly type: 'state-chunk';
  readonly transferId: number;
  /** 0-based over the whole transfer (pre-copy chunks first, then the chunks taken at the stun). */
  readonly index: number;
  readonly payload: Uint8Array;
  /** Hash of payload (config.chunkHash); a mismatch drops the chunk (E_CHUNK_HASH) and it is asked for again. */
  readonly hash: bigint;
}

/** Closes a transfer: where the guest stands and what its digest must be once every chunk is applied. */
export interface StateEndMessage extends Envelope {
  readonly type: 'state-end';
  readonly transferId: number;
  readonly chunkCount: number;
  readonly reason: 'protect' | 'resync';
  /** Host-call index at which the checkpoint was taken (the secondary replays from here). */
  readonly callIndex: number;
  /** First seq of the log after the checkpoint: streaming resumes here. */
  readonly nextSeq: number;
  /** Root state digest at the checkpoint. */
  readonly root: bigint;
  readonly joinId: string | null;
  /**
   * Outputs before nextSeq that the primary still holds at the checkpoint (no lease yet, or frozen by the
   * resync). The restored secondary owes them to the world if it takes over, since its state is past them.
   */
  readonly heldOutputs: readonly OutputRecord[];
}

// ---- secondary → primary -------------------------------------------------------------------------------

export interface AckMessage extends Envelope {
  readonly type: 'ack';
  /** Every entry at or below has been received (receipt ack, rule 'ack'). */
  readonly receivedSeq: number;
  /** Every entry at or below has been replayed with identical results (match ack, rule 'compare'). */
  readonly matchedSeq: number;
}

/** Asks for entries [fromSeq, toSeq] again (a gap was seen). */
export interface NackMessage extends Envelope {
  readonly type: 'nack';
  readonly fromSeq: number;
  readonly toSeq: number;
}

export type SecondaryState =
  | 'joining'
  | 'transferring'
  | 'restoring'
  | 'replicating'
  | 'diverged'
  | 'candidate'
  | 'finishing'
  | 'live'
  | 'failed'
  | 'ended';

export interface SecondaryHeartbeat extends Envelope {
  readonly type: 'secondary-heartbeat';
  readonly receivedSeq: number;
  readonly matchedSeq: number;
  readonly state: SecondaryState;
}

export type DivergenceReason = 'output' | 'call' | 'digest';

/** The secondary's replay differs from the log: it stops and asks for a checkpoint resync. */
export interface DivergenceMessage extends Envelope {
  readonly type: 'divergence';
  readonly seq: number;
  readonly callIndex: number;
  readonly reason: DivergenceReason;
  readonly detail: string;
  /** Final match point: with secondary dispatch, every output at or below was dispatched by the secondary. */
  readonly matchedSeq: number;
  /** The secondary's page hashes and file-system block hashes: the primary sends only what differs. */
  readonly pageHashes: readonly bigint[];
  readonly blockHashes: readonly bigint[];
}

/** A secondary asks to be protected (re-protect, failback). Hashes of an older snapshot shrink the transfer to a delta. */
export interface JoinMessage extends Envelope {
  readonly type: 'join';
  readonly joinId: string;
  readonly pageHashes: readonly bigint[] | null;
  readonly blockHashes: readonly bigint[] | null;
}

export interface StateNackMessage extends Envelope {
  readonly type: 'state-nack';
  readonly transferId: number;
  /** Missing chunk indices, or empty when the state-end itself is missing. */
  readonly missing: readonly number[];
}

/** The secondary applied a transfer; root is its digest afterwards (the primary compares it). */
export interface TransferDoneMessage extends Envelope {
  readonly type: 'transfer-done';
  readonly transferId: number;
  readonly root: bigint;
}

export type PrimaryMessage = EntriesMessage | PrimaryHeartbeat | StateChunkMessage | StateEndMessage;
export type SecondaryMessage =
  | AckMessage
  | NackMessage
  | SecondaryHeartbeat
  | DivergenceMessage
  | JoinMessage
  | StateNackMessage
  | TransferDoneMessage;
export type Message = PrimaryMessage | SecondaryMessage;
export type MessageType = Message['type'];

const primaryTypes: ReadonlySet<MessageType> = new Set(['entries', 'primary-heartbeat', 'state-chunk', 'state-end']);

export function isPrimaryMessage(message: Message): message is PrimaryMessage {
  return primaryTypes.has(message.type);
}
