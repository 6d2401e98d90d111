/**
 * One simulated host: a guest model plus the core of its current role, and the DRIVER that connects them —
 * the same loop engine/node runs for real: step events, read ready(), act on it in the documented order.
 * It is the reference for how a driver uses the cores (see docs/PROTOCOL.md, "Driver loop").
 */
import { EntryKind, type LogEntry } from '../../log/entry.ts';
import { RECORD_INDEX_STRIDE, type EntryBlock } from '../../log/entry-block.ts';
import type { PrimaryConfig, SecondaryConfig } from '../config.ts';
import type { Message } from '../messages.ts';
import type { HeldOutput } from '../output-gate.ts';
import { PrimaryCore } from '../primary-core.ts';
import type { CheckpointRequest, Notice, PrimaryEvent, StateHashes } from '../primary-types.ts';
import { SecondaryCore } from '../secondary-core.ts';
import type { SecondaryEvent } from '../secondary-types.ts';
import type { ProtocolError } from '../errors.ts';
import type { FakeLease } from './fake-lease.ts';
import type { LeaseRequest } from '../lease-state.ts';
import type { FakeNetwork, HostId } from './fake-network.ts';
import { GuestModel } from './guest-model.ts';
import type { Prng } from './prng.ts';

export interface HostContext {
  readonly program: number;
  readonly net: FakeNetwork;
  readonly lease: FakeLease;
  readonly primaryConfig: Omit<PrimaryConfig, 'vmId'> & { vmId: string };
  readonly secondaryConfig: Omit<SecondaryConfig, 'vmId' | 'nodeId'> & { vmId: string };
  readonly digestEveryCalls: number;
  /**
   * The lease service answers after 0 to this many ms (decided when asked, as a real backend decides during the
   * call): the window where a node holds the lease in the service but its core does not know yet.
   */
  readonly leaseDelayMaxMs: number;
  now(): number;
  /** An output leaves this host for the outside world. */
  dispatch(host: SimHost, output: HeldOutput): void;
  notice(host: SimHost, notice: Notice): void;
  error(host: SimHost, error: ProtocolError): void;
  /** A secondary applied a transfer: its digest must equal the primary's checkpoint root. */
  restored(host: SimHost, expectedRoot: bigint, pagesWritten: number): void;
  /** The primary sent an entries message whose block holds a packed run. */
  packedBlock(): void;
}

/** Whether two entries of the block share a record (a packed run, capture.ts). */
function holdsPackedRun(block: EntryBlock): boolean {
  const ix = block.recordIndex();
  for (let i = 1; i < block.count; i++) if (ix[i * RECORD_INDEX_STRIDE] === ix[(i - 1) * RECORD_INDEX_STRIDE]) return true;
  return false;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A lease answer, as both cores take it. */
type LeaseEvent = Extract<PrimaryEvent & SecondaryEvent, { type: 'lease-acquired' | 'lease-denied' }>;

export class SimHost {
  role: 'primary' | 'secondary' | 'down' = 'down';
  incarnation = 0;
  guest: GuestModel | null = null;
  primary: PrimaryCore | null = null;
  secondary: SecondaryCore | null = null;
  /** Primary: the last ready() said pause. */
  paused = false;
  /** Secondary: entries handed by the core, not yet replayed. */
  private queue: LogEntry[] = [];
  private readonly precopy = new Map<number, StateHashes>();
  private digestedAt = -1;
  liveSource: Prng;
  /** The result array the host refills for clock reads (seeds that reuse log buffers). */
  private readonly clockResult = new Uint8Array(8);
  /**
   * The lease answer on its way (one request at a time, as LeaseIo runs them), for the core that asked; it is
   * lost if that core is gone by then (crash, restart, role change). `next`: the latest request made meanwhile.
   */
  private leaseAnswer: { readonly dueMs: number; readonly core: PrimaryCore | SecondaryCore; readonly event: LeaseEvent } | null = null;
  private leaseNext: { readonly core: PrimaryCore | SecondaryCore; readonly req: LeaseRequest } | null = null;
  /** Lease requests made so far (drives the answer delay without a PRNG draw, so seeds keep their other draws). */
  private leaseAsks = 0;

  constructor(
    readonly id: HostId,
    private readonly ctx: HostContext,
    private readonly rng: Prng,
  ) {
    this.liveSource = rng.fork();
  }

  get nodeId(): string {
    return `${this.id}.${this.incarnation}`;
  }
  get peer(): HostId {
    return this.id === 'A' ? 'B' : 'A';
  }

  // ---- lifecycle -----------------------------------------------------------------------------------------

  bootPrimary(): void {
    this.incarnation++;
    this.role = 'primary';
    this.guest = new GuestModel(this.ctx.program);
    this.primary = new PrimaryCore(this.ctx.primaryConfig, { mode: 'protected' });
    this.liveSource = this.rng.fork();
  }

  bootSecondary(): void {
    this.incarnation++;
    this.role = 'secondary';
    this.guest = new GuestModel(this.ctx.program);
    this.secondary = new SecondaryCore({ ...this.ctx.secondaryConfig, nodeId: this.nodeId }, { mode: 'boot' });
  }

  /** Restart as a joining secondary. The old guest state (if kept) is advertised so only the delta comes back. */
  join(keepState: boolean): void {
    this.incarnation++;
    this.role = 'secondary';
    this.primary = null;
    this.queue = [];
    if (!keepState) this.guest = null;
    const hashes = this.guest ? { pages: this.guest.pageHashes(), blocks: this.guest.blockHashes() } : null;
    this.secondary = new SecondaryCore({ ...this.ctx.secondaryConfig, nodeId: this.nodeId }, { mode: 'join', hashes });
  }

  crash(): void {
    this.leaseAnswer = null;
    this.leaseNext = null;
    this.role = 'down';
    this.primary = null;
    this.secondary = null;
    this.queue = [];
    this.paused = false;
  }

  // ---- events in -----------------------------------------------------------------------------------------

  deliver(message: Message): void {
    if (this.primary) this.primary.step({ type: 'message', message });
    else if (this.secondary) this.secondary.step({ type: 'message', message });
    this.process();
  }

  tick(): void {
    const now = this.ctx.now();
    if (this.primary) this.primary.tick(now);
    else if (this.secondary) this.secondary.tick(now);
    this.deliverLeaseAnswer(now);
    this.process();
  }

  /** Steps a due lease answer into the core that asked (if it is still the current one), then runs the next request. */
  private deliverLeaseAnswer(now: number): void {
    const a = this.leaseAnswer;
    if (a === null || a.dueMs > now) return;
    this.leaseAnswer = null;
    if (a.core === this.primary) this.primary.step(a.event);
    else if (a.core === this.secondary) this.secondary.step(a.event);
    const next = this.leaseNext;
    this.leaseNext = null;
    if (next !== null && (next.core === this.primary || next.core === this.secondary)) this.lease(next.core, next.req);
  }

  /**
   * Performs a lease request of `core` as LeaseIo does: one at a time (a request made while an answer is on its
   * way waits, the latest replacing a waiting one). Returns true when it stepped the core (an answer with no delay).
   */
  private lease(core: PrimaryCore | SecondaryCore, req: LeaseRequest): boolean {
    if (this.leaseAnswer !== null) {
      this.leaseNext = { core, req };
      return false;
    }
    const now = this.ctx.now();
    if (req.kind === 'release') {
      this.ctx.lease.release(this.id, this.nodeId, now);
      return false;
    }
    const a = this.ctx.lease.acquire(this.id, this.nodeId, req.epoch, now);
    if (!a) return false; // cut off: no answer; the core asks again after leaseRetryMs
    const event: LeaseEvent = a.ok ? { type: 'lease-acquired', untilMs: a.untilMs, epoch: a.epoch } : { type: 'lease-denied', holder: a.holder, fenced: a.fenced };
    const max = this.ctx.leaseDelayMaxMs;
    const delay = max === 0 ? 0 : (Math.imul(++this.leaseAsks, 0x9e3779b1) >>> 0) % (max + 1);
    if (delay === 0) {
      core.step(event);
      return true;
    }
    this.leaseAnswer = { dueMs: now + delay, core, event };
    return false;
  }

  // ---- the driver ----------------------------------------------------------------------------------------

  /** Reads ready() and acts on it until the core has nothing more to say. */
  process(): void {
    for (let guard = 0; guard < 1000; guard++) {
      const stepped = this.primary ? this.processPrimary() : this.secondary ? this.processSecondary() : false;
      if (!stepped) return;
    }
    throw new Error('driver loop did not settle');
  }

  private processPrimary(): boolean {
    const core = this.primary!;
    const r = core.ready();
    const now = this.ctx.now();
    for (const m of r.messages) {
      if (m.type === 'entries' && holdsPackedRun(m.block)) this.ctx.packedBlock();
      this.ctx.net.send(this.id, this.peer, m, now);
    }
    for (const n of r.notices) this.ctx.notice(this, n);
    for (const o of r.outputs) this.ctx.dispatch(this, o);
    for (const e of r.errors) this.ctx.error(this, e);
    this.paused = r.pause;
    let stepped = false;
    if (r.lease && this.lease(core, r.lease)) stepped = true;
    if (r.checkpoint) {
      // The simulated guest is always at a host-call boundary between driver steps.
      core.step(this.checkpoint(r.checkpoint));
      stepped = true;
    }
    return stepped;
  }

  private checkpoint(req: CheckpointRequest) {
    const g = this.guest!;
    let chunks: Uint8Array[];
    if (req.kind === 'delta') chunks = g.chunks(this.precopy.get(req.transferId) ?? null);
    else chunks = g.chunks(req.kind === 'diff' ? req.against : null);
    if (!req.stun) this.precopy.set(req.transferId, { pages: g.pageHashes(), blocks: g.blockHashes() });
    return { type: 'checkpoint', transferId: req.transferId, callIndex: g.callIndex, root: g.root(), chunks } as const;
  }

  private processSecondary(): boolean {
    const core = this.secondary!;
    const r = core.ready();
    const now = this.ctx.now();
    for (const m of r.messages) this.ctx.net.send(this.id, this.peer, m, now);
    for (const n of r.notices) this.ctx.notice(this, n);
    for (const o of r.outputs) this.ctx.dispatch(this, o);
    for (const e of r.errors) this.ctx.error(this, e);
    if (r.discardReplay) this.queue = [];
    let stepped = false;
    if (r.restore) {
      this.queue = [];
      if (!this.guest) this.guest = new GuestModel(this.ctx.program);
      const written = this.guest.apply(r.restore.chunks);
      this.ctx.restored(this, r.restore.root, written);
      this.digestedAt = this.guest.callIndex - 1;
      core.step({ type: 'restored', transferId: r.restore.transferId, root: this.guest.root() });
      stepped = true;
    }
    for (const b of r.replay) this.queue.push(...b.entries());
    if (r.lease && this.lease(core, r.lease)) stepped = true;
    if (r.needHashes) {
      core.step({ type: 'hashes', hashes: this.guest ? { pages: this.guest.pageHashes(), blocks: this.guest.blockHashes() } : null });
      stepped = true;
    }
    if (r.goLive) {
      // Outputs of this same ready() went out above: now the machine leaves replay mode and a primary takes over.
      this.secondary = null;
      this.queue = [];
      this.role = 'primary';
      this.liveSource = this.rng.fork();
      this.primary = new PrimaryCore(this.ctx.primaryConfig, {
        mode: 'unprotected',
        epoch: r.goLive.epoch,
        nextSeq: r.goLive.nextSeq,
        callIndex: r.goLive.callIndex,
        leaseUntilMs: r.goLive.leaseUntilMs,
        leaseEpoch: r.goLive.leaseEpoch,
      });
      this.primary.tick(now);
      stepped = true;
    }
    return stepped;
  }

  // ---- the guest -----------------------------------------------------------------------------------------

  /** Lets the guest make up to `calls` host calls (live on a primary, replayed on a secondary). */
  runGuest(calls: number): void {
    for (let i = 0; i < calls; i++) {
      this.process();
      if (this.primary) {
        if (!this.runLiveCall()) return;
      } else if (this.secondary) {
        if (!this.runReplayCall()) return;
      } else return;
    }
    this.process();
  }

  private runLiveCall(): boolean {
    if (this.paused) return false;
    const g = this.guest!;
    const core = this.primary!;
    if (g.callIndex % this.ctx.digestEveryCalls === 0 && this.digestedAt < g.callIndex) {
      this.digestedAt = g.callIndex;
      core.step({ type: 'digest', callIndex: g.callIndex, root: g.root() });
      return true;
    }
    const call = g.peek();
    const index = g.callIndex;
    if (call.kind === 'input') {
      // A clock read gets 8 bytes; on the seeds that reuse log buffers the host refills one result array, as the
      // WASI host does (so the log packs runs of them), elsewhere a new array per call.
      const clock = call.name === 'clock_time_get';
      const data = clock && this.ctx.primaryConfig.reuseLogBuffers ? this.clockResult : new Uint8Array(clock ? 8 : 4);
      new DataView(data.buffer).setUint32(0, this.liveSource.next(), true);
      if (clock) new DataView(data.buffer).setUint32(4, index, true);
      g.complete(data);
      core.step({ type: 'input', callIndex: index, call: call.name, request: call.request, data });
    } else if (call.kind === 'output') {
      g.complete();
      core.step({ type: 'output', callIndex: index, call: call.name, channel: call.channel, data: call.data });
    } else {
      g.complete();
    }
    return true;
  }

  private runReplayCall(): boolean {
    const core = this.secondary!;
    const st = core.currentState;
    if (st !== 'replicating' && st !== 'candidate' && st !== 'finishing') return false;
    const e = this.queue[0];
    if (!e) return false; // never run ahead of the log
    const g = this.guest!;
    const c = g.callIndex;
    const diverge = (reason: 'output' | 'call' | 'digest', detail: string) => {
      core.step({ type: 'diverged', seq: e.seq, callIndex: e.callIndex, reason, detail, hashes: { pages: g.pageHashes(), blocks: g.blockHashes() } });
      return false;
    };
    if (e.callIndex < c) return diverge('call', `entry for call ${e.callIndex} but the guest is at ${c}`);
    if (e.kind === EntryKind.Digest && e.callIndex === c) {
      const root = new DataView(e.data.buffer, e.data.byteOffset, 8).getBigUint64(0, true);
      if (root !== g.root()) return diverge('digest', `root ${g.root().toString(16)} != ${root.toString(16)}`);
      this.queue.shift();
      core.step({ type: 'replayed', seq: e.seq });
      return true;
    }
    const call = g.peek();
    if (e.callIndex > c || e.kind === EntryKind.Digest) {
      if (call.kind !== 'pure') return diverge('call', `guest makes ${call.kind} ${call.name} at call ${c}, log has none`);
      g.complete();
      return true;
    }
    if (e.kind === EntryKind.Input) {
      if (call.kind !== 'input' || call.name !== e.call || !bytesEqual(call.request, e.request))
        return diverge('call', `guest makes ${call.kind} ${call.name} at call ${c}, log has input ${e.call}`);
      g.complete(e.data);
    } else {
      if (call.kind !== 'output') return diverge('call', `guest makes ${call.kind} at call ${c}, log has output`);
      if (call.channel !== e.channel || !bytesEqual(call.data, e.data)) return diverge('output', `output differs at call ${c}`);
      g.complete();
    }
    this.queue.shift();
    core.step({ type: 'replayed', seq: e.seq });
    return true;
  }
}
