/**
 * SecondaryCore: the secondary's half of the protocol as a pure state machine. It receives entries (dedupe,
 * gaps, chain order), acks receipt and matches, hands entries to the replayer, reports divergences, applies
 * state transfers, and on losing the primary runs the go-live sequence (lease, finish replay, take over).
 *
 * States:  joining ─▶ transferring ─▶ restoring ─▶ replicating ⇄ candidate ─lease─▶ finishing ─▶ live
 *                           ▲                           │ diverged (waits for the resync transfer)
 *                           └───────────────────────────┘
 * and `ended` from any state short of finishing: the primary was lost after it released the guest's end (its
 * exit or trap entry), so every output is out and there is nothing to take over.
 */
import type { EntryBlock } from '../log/entry-block.ts';
import { isEndChannel } from '../log/end-marker.ts';
import { secondaryConfig, type SecondaryConfig } from './config.ts';
import { ProtocolError } from './errors.ts';
import { broken, invariant } from './invariant.ts';
import { LeaseState, type LeaseRequest } from './lease-state.ts';
import {
  isPrimaryMessage,
  type DivergenceMessage,
  type Message,
  type PrimaryHeartbeat,
  type SecondaryHeartbeat,
  type SecondaryState,
  type StateChunkMessage,
  type StateEndMessage,
} from './messages.ts';
import type { HeldOutput } from './output-gate.ts';
import type { Notice, NoticeKind, StateHashes } from './primary-types.ts';
import { ReceiveWindow } from './receive-window.ts';
import type { GoLive, RestoreRequest, SecondaryEvent, SecondaryReady, SecondaryStatus } from './secondary-types.ts';

export type SecondaryStart =
  /** Booted from the same image as a primary started with mode 'protected': replicating from seq 0, epoch 1. */
  | { readonly mode: 'boot' }
  /** Asks a running primary for protection; hashes of an older snapshot of this VM make it a delta (failback). */
  | { readonly mode: 'join'; readonly hashes: StateHashes | null };

interface InboundTransfer {
  readonly id: number;
  readonly chunks: Map<number, Uint8Array>;
  end: StateEndMessage | null;
  lastNackMs: number;
  handed: boolean;
}

export class SecondaryCore {
  readonly config: SecondaryConfig;
  private state: SecondaryState;
  private epoch: number;
  private joinId: string | null = null;
  private joinCount = 0;
  private hashes: StateHashes | null | 'wanted';
  private readonly window: ReceiveWindow;
  private readonly lease: LeaseState;
  /** Delivered in order, not yet handed to the replayer. */
  private available: EntryBlock[] = [];
  private handedSeq = -1;
  private replayedSeq = -1;
  /** Output entries nobody is known to have dispatched yet (seq > knownReleasedSeq), oldest first. */
  private pending: HeldOutput[] = [];
  private knownReleasedSeq = -1;
  /** With secondary dispatch: dispatch only once the primary released everything before the last transfer. */
  private dispatchBarrierSeq = -1;
  private lastDispatchedSeq = -1;
  private primaryLastSeq = -1;
  private inbound: InboundTransfer | null = null;
  private lastDone: { id: number; root: bigint } | null = null;
  private divergence: DivergenceMessage | null = null;
  private unsafeReported = false;
  /** The guest's end entry (exit or trap output) once received in the current history. */
  private endEntry: HeldOutput | null = null;

  private nowMs = 0;
  private started = false;
  private lastHeardMs = 0;
  private lastHeartbeatMs = -Infinity;
  private lastNackMs = -Infinity;
  private lastResendMs = -Infinity;
  private ackedReceived = -1;
  private ackedMatched = -1;
  private ackFlushWanted = false;

  private messages: Message[] = [];
  private replayOut: EntryBlock[] = [];
  private outputs: HeldOutput[] = [];
  private notices: Notice[] = [];
  private errors: ProtocolError[] = [];
  private restoreRequest: RestoreRequest | null = null;
  private leaseRequest: LeaseRequest | null = null;
  private goLive: GoLive | null = null;
  private ended: HeldOutput | null = null;
  private discard = false;
  private needHashes = false;

  constructor(config: Partial<SecondaryConfig> & { vmId: string; nodeId: string }, start: SecondaryStart) {
    this.config = secondaryConfig(config);
    this.window = new ReceiveWindow(this.config.aheadEntriesMax);
    this.lease = new LeaseState(this.config);
    if (start.mode === 'boot') {
      this.state = 'replicating';
      this.epoch = 1;
      this.hashes = null;
      this.window.reset(0, 0);
    } else {
      this.state = 'joining';
      this.epoch = 0;
      this.hashes = start.hashes;
      this.newJoinId();
    }
  }

  // ---- driver API ----------------------------------------------------------------------------------------

  step(event: SecondaryEvent): void {
    switch (event.type) {
      case 'message':
        this.receive(event.message);
        break;
      case 'replayed':
        // The hot path: only the replay position moved.
        this.onReplayed(event.seq);
        this.pump();
        this.ackFlushWanted = false;
        this.checkReplayInvariants();
        return;
      case 'diverged':
        this.onDiverged(event.seq, event.callIndex, event.reason, event.detail, event.hashes);
        break;
      case 'restored':
        this.onRestored(event.transferId, event.root);
        break;
      case 'hashes':
        if (this.hashes === 'wanted') this.hashes = event.hashes;
        break;
      case 'lease-acquired':
        this.onLeaseAcquired(event.untilMs, event.epoch);
        break;
      case 'lease-denied':
        this.lease.lost(this.nowMs);
        this.fail('E_LEASE_DENIED', `${event.error !== undefined ? `lease backend failed: ${event.error}` : `lease ${event.fenced ? 'fenced at a newer epoch' : `held by ${event.holder ?? 'another node'}`}`}: not going live`);
        // Fenced: the primary moved to a newer epoch and may have released outputs this log lacks. Never go live.
        if (event.fenced && (this.state === 'candidate' || this.state === 'replicating')) this.rejoin('lease fenced at a newer epoch');
        break;
      case 'lease-lost':
        this.lease.lost(this.nowMs);
        if (this.state === 'finishing') {
          this.fail('E_LEASE_LOST', 'lease lost while finishing the replay: back to candidate');
          this.state = 'candidate';
        }
        break;
      case 'peer-connected':
        this.lastHeartbeatMs = -Infinity;
        this.ackedReceived = this.ackedMatched = -2; // resend the acks at once
        break;
      case 'peer-lost':
        this.lastHeardMs = -Infinity;
        this.checkPrimary();
        break;
    }
    this.pump();
    this.ackFlushWanted = false;
    this.checkInvariants();
  }

  /**
   * Time passes. `deaf`: this side could not receive anything since its previous tick (the driver ran a long
   * guest slice: a guest computing without host calls keeps the driver from its I/O). The peer's silence over
   * that interval proves nothing, since what it sent is still queued, so the silence clock moves forward by
   * the interval: the peer gets a full timeout from now to be heard.
   */
  tick(nowMs: number, deaf = false): void {
    invariant(nowMs >= this.nowMs, 'time went backwards');
    if (deaf && this.started && Number.isFinite(this.lastHeardMs)) this.lastHeardMs += nowMs - this.nowMs;
    this.nowMs = nowMs;
    if (!this.started) {
      this.started = true;
      this.lastHeardMs = nowMs;
    }
    if (this.lease.expired(nowMs) && this.state === 'finishing') {
      this.fail('E_LEASE_LOST', 'lease ran out while finishing the replay');
      this.state = 'candidate';
    }
    this.checkPrimary();
    const c = this.config;
    if (nowMs - this.lastHeartbeatMs >= c.heartbeatMs) {
      const h = this.heartbeat();
      if (h) {
        this.lastHeartbeatMs = nowMs;
        this.messages.push(h);
      }
    }
    if (nowMs - this.lastResendMs >= c.retransmitMs) this.resendOnTimer();
    this.ackFlushWanted = true; // acks are batched per tick (or every ackEntriesEvery entries)
    this.pump();
    this.ackFlushWanted = false;
    this.checkInvariants();
  }

  ready(): SecondaryReady {
    const r: SecondaryReady = {
      messages: this.messages,
      discardReplay: this.discard,
      restore: this.restoreRequest,
      replay: this.replayOut,
      outputs: this.outputs,
      lease: this.leaseRequest,
      needHashes: this.needHashes,
      goLive: this.goLive,
      ended: this.ended,
      notices: this.notices,
      errors: this.errors,
      status: this.status(),
    };
    this.messages = [];
    this.replayOut = [];
    this.outputs = [];
    this.notices = [];
    this.errors = [];
    this.restoreRequest = null;
    this.leaseRequest = null;
    this.goLive = null;
    this.ended = null;
    this.discard = false;
    this.needHashes = false;
    return r;
  }

  /** Cheap read of the state (status() builds the whole report). */
  get currentState(): SecondaryState {
    return this.state;
  }

  status(): SecondaryStatus {
    const warnings: string[] = [];
    if (this.state === 'candidate') warnings.push('PRIMARY LOST: trying to take the lease and go live');
    if (this.state === 'diverged') warnings.push('DIVERGED: waiting for a checkpoint resync; not protecting');
    if (this.state === 'failed') warnings.push('FAILED: diverged with no primary to resync from');
    if (this.state === 'joining' || this.state === 'transferring' || this.state === 'restoring') warnings.push('NOT YET PROTECTING: no verified state');
    if (this.unsafeReported && this.state !== 'replicating') warnings.push('PRIMARY LOST WITHOUT A SAFE STATE HERE: cannot take over');
    return {
      role: 'secondary',
      state: this.state,
      epoch: this.epoch,
      joinId: this.joinId,
      receivedSeq: this.window.receivedSeq,
      handedSeq: this.handedSeq,
      replayedSeq: this.replayedSeq,
      ackedMatchedSeq: this.ackMatched(),
      knownReleasedSeq: this.knownReleasedSeq,
      pendingOutputs: this.pending.length,
      leaseHeld: this.lease.valid(this.nowMs, this.epoch),
      warnings,
    };
  }

  // ---- messages from the primary -------------------------------------------------------------------------

  private receive(m: Message): void {
    if (m.vmId !== this.config.vmId) return this.fail('E_VM_MISMATCH', `message for vm ${m.vmId}`);
    if (!isPrimaryMessage(m)) return this.fail('E_UNEXPECTED', `${m.type} from another secondary`);
    if (this.state === 'finishing' || this.state === 'live' || this.state === 'failed')
      return this.fail('E_UNEXPECTED', `${m.type} from a primary after this node took the lease`);
    if (m.epoch < this.epoch) return this.fail('E_STALE_EPOCH', `${m.type} from epoch ${m.epoch} < ${this.epoch}`);
    this.lastHeardMs = this.nowMs;
    if (m.type === 'state-chunk' || m.type === 'state-end') return this.onTransferMessage(m);
    if (m.epoch > this.epoch) {
      if (m.type === 'primary-heartbeat' && this.replacedBy(m)) {
        // With a lease acquire out, its answer decides, not this heartbeat: the service may already have granted
        // it, and then this node must go live (the primary is refused and deposed). Rejoining now would drop the
        // verified state and leave the lease with a node that can no longer go live: nobody live. A denial
        // (the primary holds the lease) lets the next heartbeat rejoin.
        if (this.lease.asking(this.nowMs)) return;
        return this.rejoin(`primary moved on (epoch ${m.epoch}, ${m.mode})`);
      }
      return this.fail('E_EPOCH_AHEAD', `${m.type} from epoch ${m.epoch} > ${this.epoch}`);
    }
    if (this.state === 'candidate') {
      this.state = 'replicating' as SecondaryState;
      this.notice('protected', 'primary is back before the lease was taken');
    }
    if (m.releasedSeq > this.knownReleasedSeq) this.knownReleasedSeq = m.releasedSeq;
    if (m.lastSeq > this.primaryLastSeq) this.primaryLastSeq = m.lastSeq;
    if (m.type === 'primary-heartbeat') return;
    const ok = this.state === 'replicating' || this.state === 'candidate' || ((this.state === 'transferring' || this.state === 'restoring') && this.inbound?.end);
    if (!ok) return this.fail('E_UNEXPECTED', `entries while ${this.state}`);
    // A block's entries are consecutive by construction (and were checked when its bytes were decoded).
    const res = this.window.accept(m.block);
    if (res.errors.length > 0) this.errors.push(...res.errors);
    for (const b of res.delivered) {
      this.available.push(b);
      for (const o of b.outputs) {
        if (isEndChannel(o.channel)) this.endEntry = o;
        if (o.seq <= this.knownReleasedSeq) continue;
        this.pending.push(o);
        // The primary may hold this output until it hears of its receipt: say so now, not at the next tick.
        if (this.config.ackOutputsAtOnce) this.ackFlushWanted = true;
      }
    }
  }

  /**
   * The heartbeat this side sends now (none once it is live or ended). Also what the driver hands the channel to
   * repeat while a replay slice runs long (Transport.whileBusy): the primary takes the highest receivedSeq and
   * matchedSeq it heard, so a repeat that grew stale meanwhile changes nothing.
   */
  heartbeat(): SecondaryHeartbeat | undefined {
    if (this.state === 'live' || this.state === 'ended') return undefined;
    const [r, m] = this.ackPositions();
    return { type: 'secondary-heartbeat', vmId: this.config.vmId, epoch: this.epoch, receivedSeq: r, matchedSeq: m, state: this.state };
  }

  /** A primary heartbeat from a newer epoch: is it serving somebody else (or nobody)? Then this node must rejoin. */
  private replacedBy(h: PrimaryHeartbeat): boolean {
    if (this.state === 'joining') return false;
    return h.mode === 'unprotected' || h.joinId !== this.joinId;
  }

  private onTransferMessage(m: StateChunkMessage | StateEndMessage): void {
    if (m.epoch > this.epoch) {
      if (m.type === 'state-end' && m.joinId !== this.joinId && this.state === 'joining')
        return this.fail('E_TRANSFER', `transfer ${m.transferId} is for join ${m.joinId}`);
      this.beginTransfer(m.epoch, m.transferId);
    }
    const t = this.inbound;
    if (!t || t.id !== m.transferId) {
      if (m.type === 'state-end' && this.lastDone?.id === m.transferId) return this.sendDone(); // our done was lost
      return this.fail('E_TRANSFER', `${m.type} of transfer ${m.transferId} not in progress`);
    }
    if (m.type === 'state-chunk') {
      if (m.index < 0 || (t.end && m.index >= t.end.chunkCount)) return this.fail('E_BAD_MESSAGE', `chunk index ${m.index}`);
      if (this.config.chunkHash(m.payload) !== m.hash) return this.fail('E_CHUNK_HASH', `chunk ${m.index} of transfer ${t.id}`);
      t.chunks.set(m.index, m.payload);
    } else if (!t.end) {
      t.end = m;
      this.window.reset(m.nextSeq, m.callIndex);
    }
    if (t.end && !t.handed && t.chunks.size === t.end.chunkCount) {
      t.handed = true;
      this.state = 'restoring';
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < t.end.chunkCount; i++) chunks.push(t.chunks.get(i)!);
      this.restoreRequest = { transferId: t.id, reason: t.end.reason, chunks, callIndex: t.end.callIndex, nextSeq: t.end.nextSeq, root: t.end.root };
    }
  }

  private beginTransfer(epoch: number, id: number): void {
    this.epoch = epoch;
    this.inbound = { id, chunks: new Map(), end: null, lastNackMs: this.nowMs, handed: false };
    this.state = 'transferring';
    this.resetStream();
    this.restoreRequest = null;
    this.notice('protecting', `receiving transfer ${id} (epoch ${epoch})`);
  }

  /** Everything handed or buffered belongs to a history being replaced. */
  private resetStream(): void {
    this.available = [];
    this.endEntry = null;
    this.pending = [];
    this.window.clearAhead();
    this.divergence = null;
    this.discard = true;
    this.replayOut = [];
    if (this.lease.held) {
      this.lease.lost(this.nowMs);
      this.leaseRequest = { kind: 'release' };
    }
  }

  private rejoin(why: string): void {
    this.notice('unprotected', `rejoining: ${why}`);
    this.state = 'joining';
    this.inbound = null;
    this.resetStream();
    this.hashes = 'wanted';
    this.needHashes = true;
    this.newJoinId();
    this.lastResendMs = -Infinity;
  }

  private newJoinId(): void {
    this.joinCount++;
    this.joinId = `${this.config.nodeId}#${this.joinCount}`;
  }

  // ---- replay --------------------------------------------------------------------------------------------

  /** Every handed entry up to seq was replayed identically (cumulative: a driver may report once per slice). */
  private onReplayed(seq: number): void {
    if (!this.isReplaying()) return; // a late report for entries discarded by a transfer or rejoin
    if (seq <= this.replayedSeq) broken(`replayed ${seq}, but replay already stands at ${this.replayedSeq}`);
    if (seq > this.handedSeq) broken(`replayed ${seq} that was never handed (ran ahead of the log)`);
    this.replayedSeq = seq;
    // Replay passed an output the primary may still hold (rule 'compare', or one this side dispatches): ack now.
    if (this.config.ackOutputsAtOnce && this.pending.length > 0 && this.pending[0]!.seq <= seq && (this.config.releaseRule === 'compare' || this.config.dispatchSide === 'secondary'))
      this.ackFlushWanted = true;
  }

  /** States in which entries flow to the replayer. */
  private isReplaying(): boolean {
    const st = this.state;
    return st === 'replicating' || st === 'candidate' || st === 'finishing';
  }

  private onDiverged(seq: number, callIndex: number, reason: DivergenceMessage['reason'], detail: string, hashes: StateHashes): void {
    if (this.state === 'finishing') {
      this.state = 'failed';
      this.fail('E_DIVERGED', `diverged at seq ${seq} while taking over: no primary can resync this node`);
      this.lease.lost(this.nowMs);
      this.leaseRequest = { kind: 'release' };
      return;
    }
    if (this.state !== 'replicating' && this.state !== 'candidate') return;
    invariant(seq === this.replayedSeq + 1 && seq <= this.handedSeq, `diverged at ${seq}, replay stands at ${this.replayedSeq}`);
    this.state = 'diverged';
    this.divergence = {
      type: 'divergence',
      vmId: this.config.vmId,
      epoch: this.epoch,
      seq,
      callIndex,
      reason,
      detail,
      matchedSeq: this.ackMatched(),
      pageHashes: hashes.pages,
      blockHashes: hashes.blocks,
    };
    this.pending = []; // the primary keeps and releases these itself after the resync
    this.available = [];
    this.messages.push(this.divergence);
    this.lastResendMs = this.nowMs;
    this.notice('diverged', `seq ${seq} call ${callIndex} (${reason}): ${detail}`);
  }

  private onRestored(transferId: number, root: bigint): void {
    const t = this.inbound;
    if (!t || t.id !== transferId || !t.handed || !t.end) return this.fail('E_TRANSFER', `restored unknown transfer ${transferId}`);
    const resume = t.end.nextSeq;
    this.inbound = null;
    this.lastDone = { id: transferId, root };
    this.state = 'replicating';
    this.handedSeq = this.replayedSeq = resume - 1;
    this.dispatchBarrierSeq = resume - 1;
    this.ackedReceived = this.ackedMatched = -2;
    this.unsafeReported = false;
    // The primary may not have released these yet; if it dies first, they are ours to dispatch at go-live.
    // (Entries at or after resume may already be buffered: their outputs stay behind these.)
    const owed = t.end.heldOutputs.filter((o) => o.seq > this.knownReleasedSeq && o.seq > this.lastDispatchedSeq && o.seq < resume);
    this.pending = [...owed, ...this.pending];
    this.sendDone();
    this.notice(t.end.reason === 'resync' ? 'resync-done' : 'protected', `restored transfer ${transferId} at seq ${resume}`);
  }

  private sendDone(): void {
    if (!this.lastDone) return;
    this.messages.push({ type: 'transfer-done', vmId: this.config.vmId, epoch: this.epoch, transferId: this.lastDone.id, root: this.lastDone.root });
  }

  // ---- losing the primary, going live --------------------------------------------------------------------

  private checkPrimary(): void {
    if (this.nowMs - this.lastHeardMs < this.config.peerTimeoutMs) return;
    const end = this.endEntry;
    if (end && this.knownReleasedSeq >= end.seq && this.state !== 'finishing' && this.state !== 'live' && this.state !== 'ended') {
      // The gate releases in order: the end released means every output before it is out too.
      this.state = 'ended';
      this.ended = end;
      this.pending = [];
      this.notice('ended', `the primary's guest ended at seq ${end.seq} and the primary released it: nothing to take over`);
      return;
    }
    if (this.state === 'replicating') {
      const why = Number.isFinite(this.lastHeardMs) ? `primary silent for ${this.nowMs - this.lastHeardMs} ms` : 'logging channel to the primary closed';
      this.fail('E_PEER_LOST', `${why}: going for the lease`);
      this.state = 'candidate';
      this.notice('unprotected', 'primary lost: candidate for go-live');
    } else if (!this.unsafeReported && (this.state === 'diverged' || this.state === 'transferring' || this.state === 'restoring')) {
      this.unsafeReported = true;
      this.fail('E_UNSAFE_PROMOTION', `primary lost while ${this.state}: this node holds no verified state and cannot take over`);
    }
  }

  private onLeaseAcquired(untilMs: number, epoch: number): void {
    this.lease.acquired(untilMs, epoch);
    if (this.state === 'finishing') return; // a renewal
    if (this.state === 'candidate' || this.state === 'replicating') {
      // The lease is the decision: once we hold it the old primary can no longer release, so we MUST go live.
      this.state = 'finishing';
      this.window.clearAhead(); // entries beyond a gap can never be filled now
      this.notice('taking-over', `lease taken: finishing replay up to seq ${this.window.receivedSeq}`);
      return;
    }
    this.lease.lost(this.nowMs);
    this.leaseRequest = { kind: 'release' };
  }

  // ---- output, acks, timers ------------------------------------------------------------------------------

  private pump(): void {
    if (this.available.length > 0 && this.isReplaying()) {
      for (const b of this.available) this.replayOut.push(b);
      this.handedSeq = this.available[this.available.length - 1]!.lastSeq;
      this.available = [];
    }
    while (this.pending.length > 0 && this.pending[0]!.seq <= this.knownReleasedSeq) this.pending.shift();
    if (this.pending.length > 0 && this.mayDispatch()) {
      while (this.pending.length > 0 && this.pending[0]!.seq <= this.replayedSeq) {
        const o = this.pending.shift()!;
        invariant(o.seq > this.lastDispatchedSeq, 'secondary dispatch out of order');
        this.lastDispatchedSeq = o.seq;
        this.outputs.push(o);
      }
    }
    if (this.state === 'finishing' && this.replayedSeq === this.window.receivedSeq && this.available.length === 0 && this.lease.valid(this.nowMs, this.epoch)) {
      invariant(this.pending.length === 0, 'going live with undispatched outputs');
      this.state = 'live';
      this.goLive = {
        epoch: this.lease.epoch,
        nextSeq: this.replayedSeq + 1,
        callIndex: this.window.lastCallIndex,
        leaseUntilMs: this.lease.untilMs,
        leaseEpoch: this.lease.epoch,
      };
      this.notice('went-live', `live at seq ${this.replayedSeq + 1}, epoch ${this.lease.epoch}`);
    }
    const wantLease = this.state === 'candidate' || this.state === 'finishing';
    // Ask at the epoch we would go live with: see lease-state.ts for why that fences out the old primary.
    if (wantLease && this.leaseRequest === null && this.lease.wantAcquire(this.nowMs, wantLease, this.epoch + 1))
      this.leaseRequest = { kind: 'acquire', epoch: this.epoch + 1 };
    this.sendAck();
  }

  private mayDispatch(): boolean {
    if (this.state === 'finishing') return this.lease.valid(this.nowMs, this.epoch);
    return (
      this.config.dispatchSide === 'secondary' &&
      this.state === 'replicating' &&
      this.knownReleasedSeq >= this.dispatchBarrierSeq
    );
  }

  /** Match point to report. With secondary dispatch it stops before the first matched-but-undispatched output. */
  private ackMatched(): number {
    if (this.config.dispatchSide === 'secondary') {
      const p = this.pending[0];
      if (p && p.seq <= this.replayedSeq) return p.seq - 1;
    }
    return this.replayedSeq;
  }

  private ackPositions(): [number, number] {
    if (this.state === 'replicating' || this.state === 'candidate')
      return [this.window.receivedSeq, Math.min(this.ackMatched(), this.window.receivedSeq)];
    // Diverged: the match point is frozen where the report put it. (With secondary dispatch the primary drops
    // outputs up to it as sent; a later, higher value would drop outputs nobody dispatched.)
    if (this.state === 'diverged' && this.divergence) return [this.window.receivedSeq, this.divergence.matchedSeq];
    return [this.ackedReceived, this.ackedMatched];
  }

  private sendAck(): void {
    if (this.state !== 'replicating' && this.state !== 'candidate') return;
    const r = this.window.receivedSeq;
    const m = Math.min(this.ackMatched(), r); // ackPositions() in these states, without the tuple
    const every = this.config.ackEntriesEvery;
    const changed = r !== this.ackedReceived || m !== this.ackedMatched;
    if (!changed) return;
    if (!this.ackFlushWanted && r - this.ackedReceived < every && m - this.ackedMatched < every) return;
    this.ackFlushWanted = false;
    this.ackedReceived = r;
    this.ackedMatched = m;
    this.messages.push({ type: 'ack', vmId: this.config.vmId, epoch: this.epoch, receivedSeq: r, matchedSeq: m });
  }

  private resendOnTimer(): void {
    const c = this.config;
    this.lastResendMs = this.nowMs;
    switch (this.state) {
      case 'replicating':
      case 'candidate': {
        const g = this.window.gap() ?? (this.primaryLastSeq > this.window.receivedSeq ? [this.window.receivedSeq + 1, this.primaryLastSeq] : null);
        if (g) this.messages.push({ type: 'nack', vmId: c.vmId, epoch: this.epoch, fromSeq: g[0], toSeq: g[1] });
        break;
      }
      case 'diverged':
        if (this.divergence) this.messages.push(this.divergence);
        break;
      case 'joining':
        if (this.hashes !== 'wanted')
          this.messages.push({
            type: 'join',
            vmId: c.vmId,
            epoch: this.epoch,
            joinId: this.joinId!,
            pageHashes: this.hashes?.pages ?? null,
            blockHashes: this.hashes?.blocks ?? null,
          });
        break;
      case 'transferring': {
        const t = this.inbound;
        if (t?.end) {
          const missing: number[] = [];
          for (let i = 0; i < t.end.chunkCount && missing.length < 256; i++) if (!t.chunks.has(i)) missing.push(i);
          this.messages.push({ type: 'state-nack', vmId: c.vmId, epoch: this.epoch, transferId: t.id, missing });
        }
        break;
      }
      default:
        break;
    }
  }

  private checkInvariants(): void {
    this.checkReplayInvariants();
    for (let i = 1; i < this.pending.length; i++) invariant(this.pending[i]!.seq > this.pending[i - 1]!.seq, 'pending outputs out of order');
    if (this.state === 'live') invariant(this.pending.length === 0, 'live with pending outputs');
  }

  /** What a replayed report can break, in O(1) (it only moves replayedSeq and dispatches from the front of pending). */
  private checkReplayInvariants(): void {
    if (this.isReplaying()) {
      invariant(this.replayedSeq <= this.handedSeq, 'replayed beyond handed');
      invariant(this.handedSeq <= this.window.receivedSeq, 'handed beyond received');
    }
    if (this.state === 'live') invariant(this.pending.length === 0, 'live with pending outputs');
  }

  private notice(kind: NoticeKind, detail: string): void {
    this.notices.push({ kind, detail });
  }

  private fail(code: ProtocolError['code'], message: string): void {
    this.errors.push(new ProtocolError(code, message));
  }
}
