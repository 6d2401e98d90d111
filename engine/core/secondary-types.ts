/**
 * What a driver steps into a SecondaryCore and what it reads back from ready().
 */
import type { EntryBlock } from '../log/entry-block.ts';
import type { ProtocolError } from './errors.ts';
import type { LeaseRequest } from './lease-state.ts';
import type { DivergenceReason, Message, SecondaryState } from './messages.ts';
import type { HeldOutput } from './output-gate.ts';
import type { Notice, StateHashes } from './primary-types.ts';

export type SecondaryEvent =
  | { readonly type: 'message'; readonly message: Message }
  /**
   * The replayer consumed every handed entry up to seq with identical results (input fed, output bytes equal,
   * digest equal). Cumulative: one report may cover many entries (a driver may report once per replay slice).
   */
  | { readonly type: 'replayed'; readonly seq: number }
  /** The replayer found a difference at entry seq; hashes describe the secondary's state for the diff. */
  | {
      readonly type: 'diverged';
      readonly seq: number;
      readonly callIndex: number;
      readonly reason: DivergenceReason;
      readonly detail: string;
      readonly hashes: StateHashes;
    }
  /** A RestoreRequest was applied; root is the digest of the machine afterwards. */
  | { readonly type: 'restored'; readonly transferId: number; readonly root: bigint }
  /** Answer to needHashes: the hashes of the state this node still holds (failback delta), or null for none. */
  | { readonly type: 'hashes'; readonly hashes: StateHashes | null }
  | { readonly type: 'lease-acquired'; readonly untilMs: number; readonly epoch: number }
  | { readonly type: 'lease-lost' }
  /** Not granted: held by `holder`, fenced at a newer epoch, or (holder null) the backend failed with `error`. */
  | { readonly type: 'lease-denied'; readonly holder: string | null; readonly fenced: boolean; readonly error?: string }
  | { readonly type: 'peer-connected' }
  | { readonly type: 'peer-lost' };

export interface RestoreRequest {
  readonly transferId: number;
  readonly reason: 'protect' | 'resync';
  /** Apply ALL chunks, in this order, then continue replay at callIndex / nextSeq. */
  readonly chunks: readonly Uint8Array[];
  readonly callIndex: number;
  readonly nextSeq: number;
  /** The primary's digest at the checkpoint (the primary checks the secondary's root against it). */
  readonly root: bigint;
}

/** Take over: build a PrimaryCore with start {mode: 'unprotected', ...GoLive}. */
export interface GoLive {
  readonly epoch: number;
  readonly nextSeq: number;
  readonly callIndex: number;
  readonly leaseUntilMs: number;
  /** The lease is fenced at this (older) epoch: the new primary re-fences at `epoch` before releasing. */
  readonly leaseEpoch: number;
}

export interface SecondaryStatus {
  readonly role: 'secondary';
  readonly state: SecondaryState;
  readonly epoch: number;
  readonly joinId: string | null;
  readonly receivedSeq: number;
  readonly handedSeq: number;
  readonly replayedSeq: number;
  readonly ackedMatchedSeq: number;
  readonly knownReleasedSeq: number;
  readonly pendingOutputs: number;
  readonly leaseHeld: boolean;
  readonly warnings: readonly string[];
}

/**
 * Everything the driver must do since the previous ready(); the lists are handed over once.
 * CALL ready() AFTER EVERY step()/tick().
 */
export interface SecondaryReady {
  /** SEND IN THIS ORDER. */
  readonly messages: readonly Message[];
  /**
   * When true, DROP EVERY ENTRY YOU WERE HANDED BUT HAVE NOT REPLAYED, BEFORE looking at `restore` and `replay`
   * (a transfer started or this node rejoins: those entries belong to a history that is being replaced).
   */
  readonly discardReplay: boolean;
  /**
   * APPLY FIRST, ATOMICALLY (memory and disk together, or not at all), BEFORE replaying anything else; then
   * step 'restored'. Replay then continues from restore.callIndex with the entries handed after it.
   */
  readonly restore: RestoreRequest | null;
  /**
   * APPEND TO THE REPLAY QUEUE IN THIS ORDER. The guest may run only up to the host call of the next entry it
   * holds: NEVER RUN AHEAD OF THE LOG (answer PAUSE at a call that needs an entry you do not have yet).
   * Blocks of consecutive entries, each following the last.
   */
  readonly replay: readonly EntryBlock[];
  /** DISPATCH IN THIS ORDER, EACH EXACTLY ONCE (secondary dispatch, or outputs taken over at go-live). */
  readonly outputs: readonly HeldOutput[];
  readonly lease: LeaseRequest | null;
  /** Step a 'hashes' event with the page/block hashes of whatever state this node holds (before it can join). */
  readonly needHashes: boolean;
  /**
   * SWITCH TO LIVE ONLY AFTER dispatching `outputs` of this same ready(): the machine leaves replay mode,
   * host calls from now on are performed live, and a PrimaryCore built from GoLive takes over.
   */
  readonly goLive: GoLive | null;
  /**
   * The guest ended on the primary (this is its end entry: exit or trap) and the primary released it, so every
   * output before it is out: there is nothing to take over. STOP REPLAYING; the pair's work is done (the
   * driver finishes with the guest's end). Set once, when the primary is lost after that.
   */
  readonly ended: HeldOutput | null;
  readonly notices: readonly Notice[];
  readonly errors: readonly ProtocolError[];
  readonly status: SecondaryStatus;
}
