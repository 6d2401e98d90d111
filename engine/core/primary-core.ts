/**
 * PrimaryCore: the primary's half of the protocol as a pure state machine (no I/O, no clock, no randomness).
 * It turns the guest's host calls into log entries, holds outputs in the OutputGate, streams entries to the
 * secondary, runs resyncs and re-protects as checkpoint requests, and says when the guest must pause.
 *
 * Modes:  unprotected ──join──▶ protecting ──transfer-done──▶ protected ──divergence──▶ resyncing ──done──▶ protected
 *            ▲ peer lost (from any protected mode)                                    (bad digest: resync again, full)
 */
import { EntryKind } from '../log/entry.ts';
import { runEntryBytes } from '../machine/input-run.ts';
import { EntryBlockWriter, type EntryBlock } from '../log/entry-block.ts';
import { primaryConfig, type PrimaryConfig } from './config.ts';
import { ProtocolError } from './errors.ts';
import { broken, invariant } from './invariant.ts';
import { LeaseState, type LeaseRequest } from './lease-state.ts';
import {
  isPrimaryMessage,
  type DivergenceMessage,
  type JoinMessage,
  type Message,
  type PrimaryHeartbeat,
  type PrimaryMode,
  type StateChunkMessage,
  type StateEndMessage,
} from './messages.ts';
import { OutputGate, type HeldOutput } from './output-gate.ts';
import type {
  CheckpointRequest,
  Notice,
  NoticeKind,
  PauseReason,
  PrimaryEvent,
  PrimaryReady,
  PrimaryStatus,
  StateHashes,
} from './primary-types.ts';

export interface PrimaryStart {
  /**
   * 'protected': boot pairing, a secondary started from the same image replicates from seq 0 (epoch 1).
   * 'unprotected': no secondary yet (fresh start, or a secondary that just went live); waits for a join.
   */
  readonly mode: 'protected' | 'unprotected';
  readonly epoch?: number;
  readonly nextSeq?: number;
  /** Host-call index the guest stands at (entries must not go backwards from here). */
  readonly callIndex?: number;
  /** The lease is already held until this time, fenced at leaseEpoch (a secondary going live hands it over). */
  readonly leaseUntilMs?: number;
  readonly leaseEpoch?: number;
}

interface OutboundTransfer {
  readonly id: number;
  readonly reason: 'protect' | 'resync';
  readonly joinId: string | null;
  /**
   * precopy: waiting for the checkpoint of the running guest; draining: pre-copy chunks on the wire while the
   * guest keeps running; stun: waiting for the stunned delta; sent: state-end out, awaiting transfer-done.
   */
  phase: 'precopy' | 'draining' | 'stun' | 'sent';
  readonly chunks: StateChunkMessage[];
  end: StateEndMessage | null;
  lastSendMs: number;
}

export class PrimaryCore {
  readonly config: PrimaryConfig;
  private mode: PrimaryMode;
  private epoch: number;
  private nextSeq: number;

  /** Sequence number the next log entry will get (drivers use it to correlate outputs with releases). */
  get upcomingSeq(): number {
    return this.nextSeq;
  }
  private lastCallIndex: number;
  private joinId: string | null = null;
  private readonly gate: OutputGate;
  private readonly lease: LeaseState;
  /** Entries above receivedSeq (and a few acked ones sharing a block with them), kept for retransmission (only while streaming). */
  private readonly log: BlockLog;
  private sentSeq: number;
  private receivedSeq: number;
  private matchedSeq: number;
  private nowMs = 0;
  private started = false;
  private lastHeardMs = 0;
  private lastHeartbeatMs = -Infinity;
  private lastProgressMs = 0;
  private transfer: OutboundTransfer | null = null;
  private nextTransferId = 1;
  private lastDoneTransferId = 0;
  private deposed = false;
  private flushWanted = false;
  private lastReleasedSeq = -1;

  private messages: Message[] = [];
  private outputs: HeldOutput[] = [];
  private notices: Notice[] = [];
  private errors: ProtocolError[] = [];
  private checkpointRequest: CheckpointRequest | null = null;
  private leaseRequest: LeaseRequest | null = null;

  constructor(config: Partial<PrimaryConfig> & { vmId: string }, start: PrimaryStart) {
    this.config = primaryConfig(config);
    this.gate = new OutputGate(this.config.releaseRule, this.config.dispatchSide);
    this.lease = new LeaseState(this.config);
    this.mode = start.mode;
    this.epoch = start.epoch ?? 1;
    this.nextSeq = start.nextSeq ?? 0;
    this.lastCallIndex = start.callIndex ?? 0;
    this.sentSeq = this.receivedSeq = this.matchedSeq = this.nextSeq - 1;
    this.log = new BlockLog(this.nextSeq, this.config.batchEntriesMax, this.config.batchBytesMax, this.config.reuseLogBuffers, this.config.logBufferBytes);
    this.gate.restartAcks(this.nextSeq - 1);
    if (this.mode === 'unprotected') this.gate.force(Infinity);
    if (start.leaseUntilMs !== undefined) this.lease.acquired(start.leaseUntilMs, start.leaseEpoch ?? this.epoch);
  }

  // ---- driver API ----------------------------------------------------------------------------------------

  step(event: PrimaryEvent): void {
    this.inputRoom = 0;
    switch (event.type) {
      case 'input':
        this.input(event.callIndex, event.call, event.request, event.data);
        return;
      case 'output':
        this.record(EntryKind.Output, event.callIndex, event.call, event.channel, new Uint8Array(0), event.data);
        break;
      case 'digest': {
        // A driver may pass the full digest payload (root + changed page/file digests) so a divergence report
        // can name pages; otherwise the entry carries the root alone.
        let root = event.payload;
        if (!root) {
          root = new Uint8Array(8);
          new DataView(root.buffer).setBigUint64(0, BigInt.asUintN(64, event.root), true);
        }
        this.record(EntryKind.Digest, event.callIndex, '', 0, new Uint8Array(0), root);
        break;
      }
      case 'message':
        this.receive(event.message);
        break;
      case 'checkpoint':
        this.onCheckpoint(event.transferId, event.callIndex, event.root, event.chunks);
        break;
      case 'lease-acquired':
        this.lease.acquired(event.untilMs, event.epoch);
        break;
      case 'lease-lost':
        this.lease.lost(this.nowMs);
        this.fail('E_LEASE_LOST', 'lease lost: outputs stay held until it is back');
        this.notice('lease-lost', 'outputs held until the lease is back');
        break;
      case 'lease-denied':
        this.lease.lost(this.nowMs);
        this.fail('E_LEASE_DENIED', event.error !== undefined ? `lease backend failed: ${event.error}` : `lease held by ${event.holder ?? 'another node'}`);
        if (event.holder !== null || event.fenced) {
          // Someone else is live: our history may already be superseded, so we must never release again.
          this.deposed = true;
          this.notice('deposed', `lease held by ${event.holder}; restart this node as a secondary`);
        }
        break;
      case 'peer-connected':
        this.sentSeq = this.receivedSeq;
        this.flushWanted = true;
        this.lastHeartbeatMs = -Infinity;
        break;
      case 'peer-lost':
        this.losePeer('reported by the driver');
        break;
    }
    this.pump();
    this.checkInvariants();
  }

  /**
   * The same as step({ type: 'input', ... }), without the event object: the hot path, one call per
   * nondeterministic host call. The bytes are copied into the log; the caller may reuse both arrays at once.
   * Returns hasReady (a driver calls ready() only when it is true). An input changes neither the gate, nor the
   * lease, nor the time, so the only work after recording it is a flush when its batch is full.
   */
  input(callIndex: number, call: string, request: Uint8Array, data: Uint8Array): boolean {
    if (this.inputRoom > 0 && callIndex >= this.lastCallIndex) {
      // Nothing but the log can change (see inputRoom), and hasReady stays false unless a batch closed.
      this.inputRoom--;
      this.lastCallIndex = callIndex;
      this.nextSeq++;
      if (!this.streamingNow || !this.log.add(EntryKind.Input, callIndex, call, 0, request, data)) return false;
      this.flushWanted = true;
    } else {
      this.record(EntryKind.Input, callIndex, call, 0, request, data);
    }
    if (this.flushWanted) this.pump();
    this.checkRecordInvariants();
    return this.refreshInputRoom();
  }

  /**
   * How many inputs in a row input()'s short path takes now (0: the next one needs the full path): the room of
   * an input run (engine/machine/input-run.ts) a driver opens after an input.
   */
  get inputRunRoom(): number {
    return this.hasReady ? 0 : this.inputRoom;
  }

  /**
   * `count` inputs at call indices `first`, `first + 1`, ... that repeat the input recorded last for `call` in
   * all but data (an input run: the same request, `width` 32-bit words of data each, back to back in `words`).
   * The same as `count` input() calls; `count` must be within the inputRunRoom read when the run was opened
   * (nothing else reached the core since), else the inputs go through input() one by one. Returns hasReady.
   */
  inputRun(first: number, count: number, call: string, request: Uint8Array, words: Int32Array, width: number): boolean {
    if (count > this.inputRoom || first < this.lastCallIndex) {
      let ready = false;
      for (let k = 0; k < count; k++) ready = this.input(first + k, call, request, runEntryBytes(words, width, k)) || ready;
      return ready || this.hasReady;
    }
    this.inputRoom -= count;
    this.lastCallIndex = first + count - 1;
    this.nextSeq += count;
    if (!this.streamingNow || !this.log.addRun(first, call, request, words, width, count)) return false;
    this.flushWanted = true;
    this.pump();
    this.checkRecordInvariants();
    return this.refreshInputRoom();
  }

  /**
   * How many inputs may be recorded on input()'s short path: while ready() has nothing and no pause is due, an
   * input changes nothing but the log and the seq, so up to the nearest bound (in-flight entries, replay lag)
   * nothing else needs looking at. Any other event, tick or ready() sets it to 0 (the next input takes the
   * full path and works it out again).
   */
  private inputRoom = 0;
  /** streaming(), as of the last refreshInputRoom (it only changes with events that reset inputRoom). */
  private streamingNow = false;

  /** Recomputes inputRoom after a full-path input; returns hasReady. */
  private refreshInputRoom(): boolean {
    if (this.hasReady) {
      this.inputRoom = 0;
      return true;
    }
    this.streamingNow = this.streaming();
    const c = this.config;
    const last = this.nextSeq - 1;
    this.inputRoom = this.streamingNow ? Math.min(c.inflightEntriesMax - (last - this.receivedSeq), c.lagEntriesMax - (last - this.matchedSeq)) - 1 : 1 << 30;
    return false;
  }

  /**
   * Time passes. `deaf`: this side could not receive anything since its previous tick (the driver ran a long
   * guest slice: a guest computing without host calls keeps the driver from its I/O). The peer's silence over
   * that interval proves nothing, since what it sent is still queued, so the silence clock moves forward by
   * the interval: the peer gets a full timeout from now to be heard.
   */
  tick(nowMs: number, deaf = false): void {
    this.inputRoom = 0;
    invariant(nowMs >= this.nowMs, 'time went backwards');
    if (deaf && this.started && Number.isFinite(this.lastHeardMs)) this.lastHeardMs += nowMs - this.nowMs;
    this.nowMs = nowMs;
    if (!this.started) {
      this.started = true;
      this.lastHeardMs = this.lastProgressMs = nowMs;
    }
    if (this.lease.expired(nowMs)) {
      this.fail('E_LEASE_LOST', 'lease ran out before it was renewed');
      this.notice('lease-lost', 'lease ran out');
    }
    if (this.mode !== 'unprotected' && nowMs - this.lastHeardMs >= this.config.peerTimeoutMs + this.transferAllowanceMs())
      this.losePeer(`silent for ${nowMs - this.lastHeardMs} ms`);
    if (nowMs - this.lastHeartbeatMs >= this.config.heartbeatMs) {
      this.lastHeartbeatMs = nowMs;
      this.messages.push(this.heartbeat());
    }
    if (this.streaming() && this.receivedSeq < this.sentSeq && nowMs - this.lastProgressMs >= this.config.retransmitMs) {
      this.sentSeq = this.receivedSeq; // go back N: everything unacked goes again
      this.lastProgressMs = nowMs;
    }
    const t = this.transfer;
    if (t?.phase === 'draining' && nowMs - t.lastSendMs >= this.config.heartbeatMs) {
      t.phase = 'stun';
      this.checkpointRequest = { transferId: t.id, kind: 'delta', stun: true };
    }
    if (t?.phase === 'sent' && t.end && nowMs - t.lastSendMs >= this.config.retransmitMs) {
      t.lastSendMs = nowMs;
      this.messages.push(t.end);
    }
    this.flushWanted = true; // entries are batched per tick
    this.pump();
    this.checkInvariants();
  }

  /**
   * The heartbeat this side sends now. Also what a driver hands the channel to repeat while the guest runs a long
   * stretch (Transport.whileBusy): the secondary takes the highest lastSeq and releasedSeq it heard, so a repeat
   * that grew stale meanwhile changes nothing.
   */
  heartbeat(): PrimaryHeartbeat {
    return {
      type: 'primary-heartbeat',
      vmId: this.config.vmId,
      epoch: this.epoch,
      lastSeq: this.nextSeq - 1,
      releasedSeq: this.gate.releasedSeq(this.nextSeq),
      mode: this.mode,
      joinId: this.joinId,
    };
  }

  ready(): PrimaryReady {
    this.inputRoom = 0;
    const r: PrimaryReady = {
      messages: this.messages,
      outputs: this.outputs,
      pause: false,
      pauseReasons: this.pauseReasons(),
      checkpoint: this.checkpointRequest,
      lease: this.leaseRequest,
      notices: this.notices,
      errors: this.errors,
      status: this.status(),
    };
    this.messages = [];
    this.outputs = [];
    this.notices = [];
    this.errors = [];
    this.checkpointRequest = null;
    this.leaseRequest = null;
    return { ...r, pause: r.pauseReasons.length > 0 };
  }

  /**
   * Whether ready() has anything to act on (messages, outputs, notices, errors, a checkpoint or lease request)
   * or would say pause. A cheap check for a driver's hot path: a driver MAY skip ready() after a guest event
   * while this is false, because ready() would then hand over nothing and not ask for a pause.
   */
  get hasReady(): boolean {
    return (
      this.messages.length > 0 ||
      this.outputs.length > 0 ||
      this.notices.length > 0 ||
      this.errors.length > 0 ||
      this.checkpointRequest !== null ||
      this.leaseRequest !== null ||
      this.mustPause()
    );
  }

  get currentMode(): PrimaryMode {
    return this.mode;
  }

  status(): PrimaryStatus {
    const warnings: string[] = [];
    if (this.deposed) warnings.push('DEPOSED: another node holds the lease; this primary never releases again');
    if (this.mode === 'unprotected') warnings.push(`UNPROTECTED: no secondary${this.config.onPeerLoss === 'pause' ? ' (guest paused)' : ''}`);
    if (this.mode === 'protecting') warnings.push('NOT YET PROTECTED: state transfer to a new secondary in progress');
    if (this.mode === 'resyncing') warnings.push('RESYNC IN PROGRESS: every output is held');
    if (!this.lease.valid(this.nowMs, this.epoch)) warnings.push('NO LEASE: outputs are held');
    return {
      role: 'primary',
      mode: this.mode,
      epoch: this.epoch,
      nextSeq: this.nextSeq,
      receivedSeq: this.receivedSeq,
      matchedSeq: this.matchedSeq,
      releasedSeq: this.gate.releasedSeq(this.nextSeq),
      heldOutputs: this.gate.count,
      heldBytes: this.gate.heldBytes,
      inflightEntries: this.streaming() ? this.nextSeq - 1 - this.receivedSeq : 0,
      leaseHeld: this.lease.valid(this.nowMs, this.epoch),
      deposed: this.deposed,
      warnings,
    };
  }

  /** Held outputs, oldest first (read-only view for tests and status pages). */
  heldOutputs(): readonly HeldOutput[] {
    return this.gate.list();
  }

  // ---- recording -----------------------------------------------------------------------------------------

  private record(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): void {
    invariant(this.transfer?.phase !== 'stun', 'guest event stepped while a stun checkpoint is pending (the driver must pause)');
    invariant(!this.deposed, 'guest event stepped on a deposed primary (the driver must pause)');
    if (callIndex < this.lastCallIndex) broken(`call index went backwards (${callIndex} < ${this.lastCallIndex})`);
    this.lastCallIndex = callIndex;
    const seq = this.nextSeq++;
    if (this.streaming()) {
      // The log closes a batch (a block) before it would outgrow batchEntriesMax or batchBytesMax; a flush is
      // wanted once one is closed, and at every output (it waits for the secondary).
      if (this.log.add(kind, callIndex, call, channel, request, data) || kind === EntryKind.Output) this.flushWanted = true;
    }
    if (kind === EntryKind.Output) this.gate.hold({ seq, callIndex, channel, data });
  }

  /**
   * Extra silence allowed while a transfer's chunks are on their way or being applied (transferApplyBytesPerMs):
   * a secondary applying a large state cannot answer meanwhile, and taking that for its loss started the
   * transfer over, again and again.
   */
  private transferAllowanceMs(): number {
    const t = this.transfer;
    if (!t || t.phase === 'precopy') return 0;
    let bytes = 0;
    for (const c of t.chunks) bytes += c.payload.length;
    return Math.ceil(bytes / this.config.transferApplyBytesPerMs);
  }

  /** Entries go to the secondary: protected, or a transfer whose state-end is out (the secondary buffers them). */
  private streaming(): boolean {
    return this.mode === 'protected' || this.transfer?.phase === 'sent';
  }

  // ---- messages from the secondary -----------------------------------------------------------------------

  private receive(m: Message): void {
    if (m.vmId !== this.config.vmId) return this.fail('E_VM_MISMATCH', `message for vm ${m.vmId}`);
    if (isPrimaryMessage(m)) return this.fail('E_UNEXPECTED', `${m.type} from another primary (epoch ${m.epoch})`);
    this.lastHeardMs = this.nowMs; // any authentic message proves the secondary is alive
    if (m.type === 'join') return this.onJoin(m);
    if (m.epoch < this.epoch) return this.fail('E_STALE_EPOCH', `${m.type} from epoch ${m.epoch} < ${this.epoch}`);
    if (m.epoch > this.epoch) return this.fail('E_EPOCH_AHEAD', `${m.type} from epoch ${m.epoch} > ${this.epoch}`);
    if (this.mode === 'unprotected') return this.fail('E_UNEXPECTED', `${m.type} while unprotected`);
    switch (m.type) {
      case 'ack':
      case 'secondary-heartbeat':
        return this.onAck(m.receivedSeq, m.matchedSeq);
      case 'nack':
        return this.resend(m.fromSeq, m.toSeq);
      case 'divergence':
        return this.onDivergence(m);
      case 'state-nack':
        return this.onStateNack(m.transferId, m.missing);
      case 'transfer-done':
        return this.onTransferDone(m.transferId, m.root);
    }
  }

  private onAck(received: number, matched: number): void {
    // Before transfer-done the secondary's state is unverified: its acks must not release anything.
    if (this.mode !== 'protected') return;
    if (received > this.nextSeq - 1 || matched > received)
      return this.fail('E_BAD_MESSAGE', `ack ${received}/${matched} beyond the log (next ${this.nextSeq})`);
    if (received > this.receivedSeq) {
      this.receivedSeq = received;
      if (this.sentSeq < received) this.sentSeq = received;
      this.lastProgressMs = this.nowMs;
      this.log.dropThrough(received);
    }
    if (matched > this.matchedSeq) this.matchedSeq = matched;
    this.gate.noteReceived(received);
    this.gate.noteMatched(matched);
  }

  private resend(fromSeq: number, toSeq: number): void {
    if (!this.streaming()) return;
    const from = Math.max(fromSeq, this.receivedSeq + 1);
    const to = Math.min(toSeq, this.sentSeq);
    if (from > to) return;
    this.sendBlocks(this.log.range(from, to));
  }

  private onDivergence(m: DivergenceMessage): void {
    if (this.mode !== 'protected' && this.transfer?.phase !== 'sent') return this.fail('E_UNEXPECTED', 'divergence during a transfer checkpoint');
    this.notice('diverged', `secondary diverged at seq ${m.seq} (call ${m.callIndex}, ${m.reason}): ${m.detail}`);
    // With secondary dispatch, everything it matched before diverging is out already: forget it here.
    if (m.matchedSeq <= this.nextSeq - 1) {
      this.gate.noteReceived(m.matchedSeq);
      this.gate.noteMatched(m.matchedSeq);
    }
    this.drainGate();
    this.startResync({ pages: m.pageHashes, blocks: m.blockHashes });
  }

  private startResync(against: StateHashes | null): void {
    this.epoch++;
    this.mode = 'resyncing';
    this.gate.freeze(); // the seed rule: nothing goes out until the secondary is the primary's copy again
    this.log.clear(this.nextSeq);
    this.sentSeq = this.receivedSeq = this.matchedSeq = this.nextSeq - 1;
    const id = this.nextTransferId++;
    this.transfer = { id, reason: 'resync', joinId: this.joinId, phase: 'stun', chunks: [], end: null, lastSendMs: this.nowMs };
    this.checkpointRequest = against
      ? { transferId: id, kind: 'diff', against, stun: true }
      : { transferId: id, kind: 'full', stun: true };
    this.notice('resync-started', `transfer ${id}, epoch ${this.epoch}`);
  }

  private onJoin(m: JoinMessage): void {
    if (m.joinId === this.joinId && this.mode !== 'unprotected') return; // a repeated join: the transfer is under way
    if (this.mode !== 'unprotected') this.notice('unprotected', `replaced by join ${m.joinId}`);
    this.epoch++;
    this.mode = 'protecting';
    this.joinId = m.joinId;
    // Until the new secondary holds a copy nobody protects the held outputs: they are the truth, let them go.
    this.gate.thaw();
    this.gate.force(Infinity);
    this.log.clear(this.nextSeq);
    this.sentSeq = this.receivedSeq = this.matchedSeq = this.nextSeq - 1;
    const id = this.nextTransferId++;
    this.transfer = { id, reason: 'protect', joinId: m.joinId, phase: 'precopy', chunks: [], end: null, lastSendMs: this.nowMs };
    this.checkpointRequest =
      m.pageHashes && m.blockHashes
        ? { transferId: id, kind: 'diff', against: { pages: m.pageHashes, blocks: m.blockHashes }, stun: false }
        : { transferId: id, kind: 'full', stun: false };
    this.notice('protecting', `join ${m.joinId}: transfer ${id}, epoch ${this.epoch}`);
  }

  private onCheckpoint(transferId: number, callIndex: number, root: bigint, chunks: readonly Uint8Array[]): void {
    const t = this.transfer;
    if (!t || t.id !== transferId || t.phase === 'sent' || t.phase === 'draining') return this.fail('E_TRANSFER', `checkpoint for transfer ${transferId} not requested`);
    const fresh = chunks.map((payload, i): StateChunkMessage => ({
      type: 'state-chunk',
      vmId: this.config.vmId,
      epoch: this.epoch,
      transferId,
      index: t.chunks.length + i,
      payload,
      hash: this.config.chunkHash(payload),
    }));
    t.chunks.push(...fresh);
    this.messages.push(...fresh);
    if (t.phase === 'precopy') {
      // The guest keeps running while the pre-copy drains; the short stun for what it dirtied comes on a later tick.
      t.phase = 'draining';
      t.lastSendMs = this.nowMs;
      return;
    }
    invariant(callIndex >= this.lastCallIndex, 'checkpoint call index behind the log');
    const end: StateEndMessage = {
      type: 'state-end',
      vmId: this.config.vmId,
      epoch: this.epoch,
      transferId,
      chunkCount: t.chunks.length,
      reason: t.reason,
      callIndex,
      nextSeq: this.nextSeq,
      root,
      joinId: t.joinId,
      heldOutputs: [...this.gate.list()],
    };
    t.end = end;
    t.phase = 'sent';
    t.lastSendMs = this.nowMs;
    this.messages.push(end);
    this.log.clear(this.nextSeq);
    this.sentSeq = this.receivedSeq = this.matchedSeq = this.nextSeq - 1;
    this.lastProgressMs = this.nowMs;
    // Re-protect: outputs of the unprotected period go out; later ones wait for the new secondary.
    if (t.reason === 'protect') this.gate.force(this.nextSeq - 1);
  }

  private onStateNack(transferId: number, missing: readonly number[]): void {
    const t = this.transfer;
    if (!t || t.id !== transferId || !t.end) return;
    for (const i of missing) {
      const c = t.chunks[i];
      if (c) this.messages.push(c);
    }
    this.messages.push(t.end);
    t.lastSendMs = this.nowMs;
  }

  private onTransferDone(transferId: number, root: bigint): void {
    const t = this.transfer;
    if (!t || t.id !== transferId || t.phase !== 'sent' || !t.end) {
      if (transferId !== this.lastDoneTransferId) this.fail('E_TRANSFER', `transfer-done for unknown transfer ${transferId}`);
      return;
    }
    if (root !== t.end.root) {
      this.fail('E_RESYNC_DIGEST', `secondary digest ${root.toString(16)} != ${t.end.root.toString(16)} after transfer ${t.id}`);
      return this.startResync(null);
    }
    const resumeSeq = t.end.nextSeq;
    this.lastDoneTransferId = t.id;
    this.transfer = null;
    this.mode = 'protected';
    // Outputs before the resync point are the primary's truth (the secondary now holds exactly that state).
    if (t.reason === 'resync') this.gate.force(resumeSeq - 1);
    this.gate.thaw();
    this.lastProgressMs = this.nowMs;
    this.notice(t.reason === 'resync' ? 'resync-done' : 'protected', `transfer ${t.id}: streaming from seq ${resumeSeq}`);
  }

  private losePeer(why: string): void {
    if (this.mode === 'unprotected') return;
    this.fail('E_PEER_LOST', `secondary lost: ${why}`);
    this.epoch++;
    this.mode = 'unprotected';
    this.transfer = null;
    this.checkpointRequest = null;
    this.log.clear(this.nextSeq);
    this.sentSeq = this.receivedSeq = this.matchedSeq = this.nextSeq - 1;
    this.gate.thaw();
    this.gate.force(Infinity);
    this.notice('unprotected', `secondary lost (${why})${this.config.onPeerLoss === 'pause' ? ': guest paused' : ': running unprotected'}`);
  }

  // ---- output, pauses, invariants ------------------------------------------------------------------------

  private pump(): void {
    if (this.flushWanted && this.streaming() && this.sentSeq < this.nextSeq - 1) {
      this.log.seal();
      this.sendBlocks(this.log.range(this.sentSeq + 1, this.nextSeq - 1));
      this.sentSeq = this.nextSeq - 1;
    }
    this.flushWanted = false;
    this.drainGate();
    if (this.lease.wantAcquire(this.nowMs, !this.deposed, this.epoch)) this.leaseRequest = { kind: 'acquire', epoch: this.epoch };
  }

  private drainGate(): void {
    const mayRelease = this.lease.valid(this.nowMs, this.epoch) && !this.deposed;
    const { released } = this.gate.drain(mayRelease);
    for (const o of released) {
      invariant(mayRelease, 'released without the lease');
      invariant(o.seq > this.lastReleasedSeq, 'outputs released out of order');
      this.lastReleasedSeq = o.seq;
      this.outputs.push(o);
    }
  }

  /**
   * One message per block: the log's blocks hold at most batchEntriesMax entries and (unless one entry alone)
   * batchBytesMax payload bytes, and a resent range is cut from them.
   */
  private sendBlocks(blocks: readonly EntryBlock[]): void {
    const releasedSeq = this.gate.releasedSeq(this.nextSeq);
    for (const block of blocks) {
      this.messages.push({ type: 'entries', vmId: this.config.vmId, epoch: this.epoch, block, releasedSeq, lastSeq: this.nextSeq - 1 });
    }
  }

  /** pauseReasons().length > 0, without building the list (the driver's per-call check). */
  private mustPause(): boolean {
    const c = this.config;
    if (this.gate.count >= c.heldOutputsMax || this.gate.heldBytes >= c.heldBytesMax) return true;
    if (this.streaming() && (this.nextSeq - 1 - this.receivedSeq >= c.inflightEntriesMax || this.nextSeq - 1 - this.matchedSeq >= c.lagEntriesMax)) return true;
    return this.transfer?.phase === 'stun' || (this.mode === 'unprotected' && c.onPeerLoss === 'pause') || this.deposed;
  }

  private pauseReasons(): PauseReason[] {
    const c = this.config;
    const r: PauseReason[] = [];
    if (this.gate.count >= c.heldOutputsMax) r.push('held-outputs');
    if (this.gate.heldBytes >= c.heldBytesMax) r.push('held-bytes');
    if (this.streaming() && this.nextSeq - 1 - this.receivedSeq >= c.inflightEntriesMax) r.push('inflight');
    if (this.streaming() && this.nextSeq - 1 - this.matchedSeq >= c.lagEntriesMax) r.push('lag');
    if (this.transfer?.phase === 'stun') r.push('stun');
    if (this.mode === 'unprotected' && c.onPeerLoss === 'pause') r.push('no-secondary');
    if (this.deposed) r.push('deposed');
    return r;
  }

  private checkInvariants(): void {
    const c = this.config;
    this.gate.checkInvariants();
    if (this.gate.count > c.heldOutputsMax) broken(`held outputs ${this.gate.count} > heldOutputsMax (driver ignored PAUSE)`);
    invariant(this.matchedSeq <= this.receivedSeq, 'matched beyond received');
    if (this.mode === 'resyncing') invariant(this.gate.frozen, 'resync with an open gate');
    this.checkRecordInvariants();
  }

  /**
   * What recording an input can break, in O(1): checked after every input (the full check, which walks the
   * gate, runs after every other event; an input leaves the gate alone).
   */
  private checkRecordInvariants(): void {
    const c = this.config;
    invariant(this.receivedSeq <= this.sentSeq && this.sentSeq <= this.nextSeq - 1, 'ack/send positions out of order');
    if (this.streaming()) {
      invariant(this.nextSeq - 1 - this.receivedSeq <= c.inflightEntriesMax, 'inflight entries over the bound (driver ignored PAUSE)');
      invariant(this.nextSeq - 1 - this.matchedSeq <= c.lagEntriesMax, 'replay lag over the bound (driver ignored PAUSE)');
      invariant(this.log.nextSeq === this.nextSeq && this.log.firstSeq <= this.receivedSeq + 1, 'retransmission log does not cover the unacked entries');
    } else {
      invariant(this.log.firstSeq === this.log.nextSeq, 'log kept while not streaming');
    }
  }

  private notice(kind: NoticeKind, detail: string): void {
    this.notices.push({ kind, detail });
  }

  private fail(code: ProtocolError['code'], message: string): void {
    this.errors.push(new ProtocolError(code, message));
  }
}

/**
 * The retransmission window: entries from just above receivedSeq to the newest, as sealed entry blocks plus the
 * entries written since the last seal. Entries are written straight into the blocks' buffers (a few stores per
 * entry, no object): a host-call-heavy guest logs millions a second. Acks drop whole blocks from the front (a
 * block partly acked stays until all of it is); the block list is compacted once most of it is dropped.
 * With `reuse` (PrimaryConfig.reuseLogBuffers), a buffer whose blocks were all acked goes back to the writer for
 * new entries.
 */
class BlockLog {
  private readonly writer: EntryBlockWriter;
  private blocks: EntryBlock[] = [];
  private head = 0;

  constructor(
    nextSeq: number,
    private readonly entriesMax: number,
    private readonly bytesMax: number,
    private readonly reuse = false,
    bufferBytes?: number,
  ) {
    this.writer = new EntryBlockWriter(nextSeq, bufferBytes);
  }

  /** Seq of the oldest entry kept (nextSeq when none is). */
  get firstSeq(): number {
    return this.head < this.blocks.length ? this.blocks[this.head]!.firstSeq : this.writer.nextSeq - this.writer.openEntries;
  }

  /** Seq the next entry gets. */
  get nextSeq(): number {
    return this.writer.nextSeq;
  }

  /**
   * Appends an entry, sealing the open entries first when this one would take them over batchEntriesMax or
   * batchBytesMax (a single entry larger than that is a block of its own); true when a block was sealed.
   */
  add(kind: EntryKind, callIndex: number, call: string, channel: number, request: Uint8Array, data: Uint8Array): boolean {
    const sealed = this.sealBefore(request.length + data.length);
    this.writer.add(kind, callIndex, call, channel, request, data);
    this.collect(); // a full arena seals what it holds by itself
    return sealed;
  }

  /** Seals the open entries when one more entry of `payload` bytes would take them over a bound; true if it did. */
  private sealBefore(payload: number): boolean {
    const w = this.writer;
    if (w.openEntries === 0 || (w.openEntries < this.entriesMax && w.openPayload + payload <= this.bytesMax)) return false;
    this.seal();
    return true;
  }

  /**
   * `count` Input entries of an input run (see PrimaryCore.inputRun), sealing the open entries whenever the next
   * ones would take them over batchEntriesMax or batchBytesMax, as add() does entry by entry; true when a block
   * was sealed.
   */
  addRun(first: number, call: string, request: Uint8Array, words: Int32Array, width: number, count: number): boolean {
    const w = this.writer;
    const size = request.length + (width << 2);
    let sealed = false;
    let done = 0;
    while (done < count) {
      if (this.sealBefore(size)) sealed = true;
      const room = Math.max(1, Math.min(this.entriesMax - w.openEntries, Math.floor((this.bytesMax - w.openPayload) / size)));
      const n = Math.min(count - done, room);
      w.addRun(EntryKind.Input, first + done, call, 0, request, done === 0 ? words : words.subarray(done * width), width, n);
      this.collect();
      done += n;
    }
    return sealed;
  }

  /** Closes the open entries as a block. */
  seal(): void {
    this.writer.seal();
    this.collect();
  }

  /** Moves the blocks the writer sealed into the log. */
  private collect(): void {
    const w = this.writer;
    if (w.sealedCount > 0) for (const b of w.take()) this.blocks.push(b);
  }

  /** Forgets everything; the next entry gets seq nextSeq. */
  clear(nextSeq: number): void {
    this.writer.reset(nextSeq);
    this.blocks = [];
    this.head = 0;
  }

  /** Forgets every block whose entries all have seq <= seq (at once: acked entries must not linger for the GC). */
  dropThrough(seq: number): void {
    const blocks = this.blocks;
    let head = this.head;
    while (head < blocks.length && blocks[head]!.lastSeq <= seq) {
      const buf = blocks[head]!.bytes.buffer;
      blocks[head++] = undefined as unknown as EntryBlock;
      // The blocks of a buffer are consecutive in the log: the last one of it is gone when the next block is in
      // another buffer, and the buffer is done with when the writer has moved on from it too.
      if (this.reuse && (head === blocks.length || blocks[head]!.bytes.buffer !== buf)) this.writer.recycle(buf);
    }
    if (head === blocks.length) {
      this.blocks = [];
      this.head = 0;
      return;
    }
    this.head = head;
    if (head >= 256 && head * 2 >= blocks.length) {
      this.blocks = blocks.slice(head);
      this.head = 0;
    }
  }

  /** The entries with from <= seq <= to (all sealed), as blocks (the first and last cut to the range). */
  range(from: number, to: number): EntryBlock[] {
    const out: EntryBlock[] = [];
    for (let i = this.head; i < this.blocks.length; i++) {
      const b = this.blocks[i]!;
      if (b.lastSeq < from) continue;
      if (b.firstSeq > to) break;
      out.push(b.slice(Math.max(from, b.firstSeq), Math.min(to, b.lastSeq)));
    }
    return out;
  }
}
