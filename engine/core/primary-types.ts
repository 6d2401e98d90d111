/**
 * What a driver steps into a PrimaryCore and what it reads back from ready().
 */
import type { ProtocolError } from './errors.ts';
import type { LeaseRequest } from './lease-state.ts';
import type { Message, PrimaryMode } from './messages.ts';
import type { HeldOutput } from './output-gate.ts';

/** Page hashes and file-system block hashes of a replica (memory modelled as page index → hash). */
export interface StateHashes {
  readonly pages: readonly bigint[];
  readonly blocks: readonly bigint[];
}

export type PrimaryEvent =
  /** The guest made a nondeterministic call and the driver performed it live. */
  | { readonly type: 'input'; readonly callIndex: number; readonly call: string; readonly request: Uint8Array; readonly data: Uint8Array }
  /** The guest wrote externally visible bytes; they are held, never sent by the driver on its own. */
  | { readonly type: 'output'; readonly callIndex: number; readonly call: string; readonly channel: number; readonly data: Uint8Array }
  /** Root state digest before call callIndex. */
  | { readonly type: 'digest'; readonly callIndex: number; readonly root: bigint; readonly payload?: Uint8Array }
  | { readonly type: 'message'; readonly message: Message }
  /**
   * Answer to a CheckpointRequest: the state pieces, and where the guest stands when they were taken. `root`
   * is the state's digest for a stunned checkpoint; a pre-copy (stun: false) may be taken in steps while the
   * guest runs, so its pages are of different moments and its root is not used (the stunned delta's is).
   */
  | {
      readonly type: 'checkpoint';
      readonly transferId: number;
      readonly callIndex: number;
      readonly root: bigint;
      readonly chunks: readonly Uint8Array[];
    }
  /** Granted (or renewed) until untilMs, fenced at epoch (the epoch of the request). */
  | { readonly type: 'lease-acquired'; readonly untilMs: number; readonly epoch: number }
  | { readonly type: 'lease-lost' }
  /** holder: who holds it; fenced: the lease carries a newer epoch than the request. */
  /** Not granted: held by `holder`, fenced at a newer epoch, or (holder null) the backend failed with `error`. */
  | { readonly type: 'lease-denied'; readonly holder: string | null; readonly fenced: boolean; readonly error?: string }
  /** The transport (re)connected: unacknowledged data is sent again at once. */
  | { readonly type: 'peer-connected' }
  /** The driver knows the peer is gone (connection refused for good, process reaped): same as a heartbeat timeout. */
  | { readonly type: 'peer-lost' };

export type CheckpointRequest =
  /** Everything (no hashes from the receiver). stun false: pre-copy while the guest keeps running. */
  | { readonly transferId: number; readonly kind: 'full'; readonly stun: boolean }
  /** Only pages/blocks whose hash differs from `against` (resync, failback). */
  | { readonly transferId: number; readonly kind: 'diff'; readonly against: StateHashes; readonly stun: boolean }
  /** Pages/blocks dirtied since this transfer's pre-copy checkpoint: the short final stun of a re-protect. */
  | { readonly transferId: number; readonly kind: 'delta'; readonly stun: true };

export type PauseReason =
  | 'held-outputs'
  | 'held-bytes'
  | 'inflight'
  | 'lag'
  | 'stun'
  | 'no-secondary'
  | 'deposed';

export type NoticeKind =
  | 'unprotected'
  | 'protecting'
  | 'protected'
  | 'resync-started'
  | 'resync-done'
  | 'lease-lost'
  | 'deposed'
  | 'diverged'
  | 'taking-over'
  | 'went-live'
  | 'ended';

export interface Notice {
  readonly kind: NoticeKind;
  readonly detail: string;
}

export interface PrimaryStatus {
  readonly role: 'primary';
  readonly mode: PrimaryMode;
  readonly epoch: number;
  readonly nextSeq: number;
  readonly receivedSeq: number;
  readonly matchedSeq: number;
  readonly releasedSeq: number;
  readonly heldOutputs: number;
  readonly heldBytes: number;
  readonly inflightEntries: number;
  readonly leaseHeld: boolean;
  readonly deposed: boolean;
  /** Loud, human-readable: empty only when protected, lease held and no resync is running. */
  readonly warnings: readonly string[];
}

/**
 * Everything the driver must do, collected since the previous ready(). Calling ready() hands the lists over
 * (they are not repeated). CALL ready() AFTER EVERY step()/tick(), AND BEFORE LETTING THE GUEST MAKE ITS NEXT HOST CALL.
 */
export interface PrimaryReady {
  /**
   * SEND IN THIS ORDER. Entry batches are in seq order; state chunks come BEFORE the state-end that closes
   * them. Loss is tolerated (everything is retransmitted), reordering too, but keep the order when you can.
   */
  readonly messages: readonly Message[];
  /**
   * DISPATCH TO THE OUTSIDE WORLD IN THIS ORDER, EACH EXACTLY ONCE. The core releases an output only AFTER every
   * entry up to it was acked (rule 'ack') or matched (rule 'compare'), only while the lease is held, and never
   * while a resync is running. Never dispatch an output that was not listed here.
   */
  readonly outputs: readonly HeldOutput[];
  /** PAUSE THE GUEST AT ITS NEXT HOST-CALL BOUNDARY while true (answer PAUSE). Never drop anything instead. */
  readonly pause: boolean;
  readonly pauseReasons: readonly PauseReason[];
  /**
   * TAKE THIS CHECKPOINT AT A HOST-CALL BOUNDARY and step the 'checkpoint' event. When stun is true, the guest
   * is paused (pause reason 'stun') and NO GUEST EVENT MAY BE STEPPED BEFORE the checkpoint event.
   */
  readonly checkpoint: CheckpointRequest | null;
  /** Do this lease I/O (acquire AT THE GIVEN EPOCH, or release) and step the outcome (lease-acquired / lease-denied / lease-lost). */
  readonly lease: LeaseRequest | null;
  readonly notices: readonly Notice[];
  /** Typed operating errors (the offending message was dropped); log them. */
  readonly errors: readonly ProtocolError[];
  readonly status: PrimaryStatus;
}
