/**
 * Operating errors of the protocol core: conditions a correct program meets in the field (a stale message,
 * a lost peer, a corrupt chunk). Each has a fixed code (table in docs/PROTOCOL.md); the core reports them in
 * `ready().errors` and drops the offending message. Programmer errors (a broken invariant, a driver that
 * ignores PAUSE) are plain Errors thrown from `step`/`tick`, never ProtocolError.
 */
export type ProtocolErrorCode =
  /** Invalid configuration (thrown from a constructor). */
  | 'E_CONFIG'
  /** Message for another VM. */
  | 'E_VM_MISMATCH'
  /** Message from an older epoch (before a resync, role change or re-protect). */
  | 'E_STALE_EPOCH'
  /** Message from a newer epoch that this side has not entered yet (e.g. entries before the state transfer). */
  | 'E_EPOCH_AHEAD'
  /** Message that this role or state does not accept (e.g. entries while diverged, chunks at a primary). */
  | 'E_UNEXPECTED'
  /** Malformed message (non-consecutive seqs in a batch, ack beyond the log, bad chunk index). */
  | 'E_BAD_MESSAGE'
  /** Entries break the chain order (call index going backwards, two calls at one index). */
  | 'E_CHAIN'
  /** Too many out-of-order entries buffered; the entry is dropped and will be retransmitted. */
  | 'E_REORDER_FULL'
  /** A state chunk whose hash does not match its payload. */
  | 'E_CHUNK_HASH'
  /** An event or message names a state transfer that is not (or no longer) in progress. */
  | 'E_TRANSFER'
  /** After a state transfer the secondary's digest differs from the primary's: the transfer is redone in full. */
  | 'E_RESYNC_DIGEST'
  /** The peer stopped answering for peerTimeoutMs (or the driver reported it lost). */
  | 'E_PEER_LOST'
  /** The lease was lost or ran out before it was renewed: this side stops releasing outputs. */
  | 'E_LEASE_LOST'
  /** The lease is held by someone else. */
  | 'E_LEASE_DENIED'
  /** The secondary diverged while no primary can resync it (it cannot go live with a wrong state). */
  | 'E_DIVERGED'
  /** The primary was lost while the secondary had no complete, verified state: it cannot take over. */
  | 'E_UNSAFE_PROMOTION';

export class ProtocolError extends Error {
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'ProtocolError';
  }
}
