/**
 * The secondary's driver: receives the log over the channel, replays it on its own machine (built from the
 * primary's first state transfer: module, config, memory and disk all arrive in it), acks and compares through
 * a SecondaryCore, applies resync transfers, and goes live when the primary is lost and the lease is won.
 *
 * The replay never runs ahead of the log's entries: it runs on through pure calls (the primary digests only
 * before input and output calls) and pauses the guest at the first input or output whose entry has not
 * arrived; new entries resume it.
 */
import { PAUSE, type RunResult } from '../machine/machine.ts';
import { SecondaryCore, type SecondaryStart } from '../core/secondary-core.ts';
import type { SecondaryConfig, PrimaryConfig } from '../core/config.ts';
import type { GoLive, RestoreRequest, SecondaryStatus } from '../core/secondary-types.ts';
import type { DivergenceReason } from '../core/messages.ts';
import { EntryKind, type LogEntry } from '../log/entry.ts';
import type { EntryBlock } from '../log/entry-block.ts';
import { END_TRAP, exitCodeOf } from '../log/end-marker.ts';
import type { HeldOutput } from '../core/output-gate.ts';
import type { LoadedModule } from '../wasi/loader.ts';
import type { WasiMachine } from '../wasi/machine.ts';
import type { Transport } from '../net/transport.ts';
import { END, Replayer, WAIT, type FlatEntrySource } from '../../replay/replayer.ts';
import type { Divergence } from '../../replay/divergence.ts';
import type { FaultHook } from '../../replay/fault.ts';
import { LeaseIo } from './lease-io.ts';
import type { SleepGate } from './guest-sleep.ts';
import { applyTransfer, chunkHashXxh64, stateHashes } from './state-transfer.ts';
import { StandInBeat, listenChannel, sendAllOnChannel, whileBusy } from './channel.ts';
import { PrimaryDriver, QUIET_ERRORS, type PrimaryDriverOptions } from './primary-driver.ts';
import { SliceTimer } from './slice-timer.ts';

export interface SecondaryDriverOptions {
  readonly vmId: string;
  readonly nodeId: string;
  readonly core: Partial<SecondaryConfig>;
  /** Settings of the primary this node becomes at go-live. */
  readonly primaryCore: Partial<PrimaryConfig>;
  readonly start?: SecondaryStart;
  readonly sleep: SleepGate;
  readonly lease: LeaseIo;
  readonly emit: (channel: number, data: Uint8Array) => void;
  readonly log: (line: string) => void;
  /** Test/research hook: perturb one input, output or memory byte during replay (resync is then exercised). */
  readonly fault?: FaultHook;
  readonly nowMs?: () => number;
  readonly tickMs?: number;
  readonly digestEveryCalls?: number;
  /** The digest budget of that primary (PrimaryDriverOptions.digestBudget). */
  readonly digestBudget?: number;
  /** Longest replay slice before yielding to the event loop. */
  readonly sliceMs?: number;
  readonly onStatus?: (s: SecondaryStatus) => void;
  /** A state this node still holds (failback): advertised with the join so only the delta is sent. */
  readonly initial?: { readonly machine: WasiMachine; readonly module: LoadedModule };
  /** After go-live, where to find the next secondary (re-protect of the new primary). */
  readonly rejoin?: () => Promise<Transport>;
  /** Durable checkpoints of the new primary after go-live (see PrimaryDriverOptions). */
  readonly checkpointFile?: string;
  readonly checkpointEveryMs?: number;
  /** Called when this node went live, with the primary driver now running the guest. */
  readonly onLive?: (p: PrimaryDriver) => void;
  /** Hooks of the primary this node becomes at go-live (its status figures: hold times, log bytes, checkpoints). */
  readonly liveHooks?: Pick<PrimaryDriverOptions, 'onHeld' | 'onSent' | 'onCheckpoint'>;
}

/**
 * Settings for a real channel. An ack that may let a held output go leaves at once (ackOutputsAtOnce); every
 * other ack is cumulative and rides on the next timer tick, or leaves after ackEntriesEvery entries. At the
 * simulator's 16 (and with a tick after every message and every replay slice), a host-call-heavy guest made
 * the secondary send, and the primary decode and step, thousands of acks a second that said nothing new.
 */
export const SECONDARY_DRIVER_DEFAULTS = {
  ackEntriesEvery: 1024,
  ackOutputsAtOnce: true,
  chunkHash: chunkHashXxh64,
} as const;

/**
 * The entry blocks the core handed over, consumed in order; WAIT when the replay has caught up with the log.
 * The replayer reads the head entry in place (FlatEntrySource): no object per entry, which for a
 * host-call-heavy guest (hundreds of thousands of entries a second) was most of this process's garbage.
 */
class EntryQueue implements FlatEntrySource {
  private blocks: (EntryBlock | undefined)[] = [];
  /** blocks[at] is being consumed (current), pos is its next entry. */
  private at = 0;
  private pos = 0;
  private current: EntryBlock | undefined;

  push(blocks: readonly EntryBlock[]): void {
    for (const b of blocks) {
      this.blocks.push(b);
      if (this.current === undefined) {
        this.at = this.blocks.length - 1;
        this.pos = 0;
        this.current = b;
      }
    }
  }

  clear(): void {
    this.blocks = [];
    this.at = 0;
    this.pos = 0;
    this.current = undefined;
  }

  peek(): LogEntry | typeof WAIT | typeof END {
    const c = this.current;
    return c !== undefined ? c.entry(this.pos) : WAIT;
  }

  take(): void {
    const c = this.current;
    if (c !== undefined && ++this.pos >= c.count) this.next();
  }

  flatHead(): EntryBlock | undefined {
    return this.current;
  }

  get headPos(): number {
    return this.pos;
  }

  /** Moves on to the next block once the current one is consumed, letting go of the consumed one at once. */
  private next(): void {
    this.blocks[this.at] = undefined; // replayed entries must not outlive their replay (GC)
    this.at++;
    this.pos = 0;
    this.current = this.blocks[this.at];
    if (this.current === undefined) {
      this.blocks = [];
      this.at = 0;
    } else if (this.at >= 64 && this.at * 2 >= this.blocks.length) {
      this.blocks = this.blocks.slice(this.at);
      this.at = 0;
    }
  }
}

function reasonOf(d: Divergence): DivergenceReason {
  if (d.kind === 'output-mismatch' || d.kind === 'exit-mismatch') return 'output';
  if (d.kind === 'digest-mismatch') return 'digest';
  return 'call';
}

export class SecondaryDriver {
  readonly core: SecondaryCore;
  private transport: Transport | undefined;
  private machine: WasiMachine | undefined;
  private module: LoadedModule | undefined;
  private replayer: Replayer | undefined;
  private slice: SliceTimer | undefined;
  private readonly queue = new EntryQueue();
  private pendingRestore: RestoreRequest | null = null;
  private pendingGoLive: GoLive | null = null;
  private reported = 0;
  private running = false;
  private scheduled = false;
  private restoring = false;
  private stopped = false;
  private tickTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** The heartbeat the channel's stand-in repeats while a replay slice runs long (see pump). */
  private readonly beat: StandInBeat;
  private finish!: (code: number) => void;
  private readonly done: Promise<number>;
  primary: PrimaryDriver | undefined;
  status: SecondaryStatus | undefined;

  constructor(private readonly o: SecondaryDriverOptions) {
    this.now = o.nowMs ?? (() => Date.now());
    if (o.initial) {
      this.machine = o.initial.machine;
      this.module = o.initial.module;
    }
    const start: SecondaryStart = o.start ?? { mode: 'join', hashes: o.initial ? stateHashes(o.initial.machine) : null };
    this.core = new SecondaryCore({ ...SECONDARY_DRIVER_DEFAULTS, ...o.core, vmId: o.vmId, nodeId: o.nodeId }, start);
    this.beat = new StandInBeat(this.now, this.core.config.heartbeatMs, () => this.core.heartbeat());
    this.done = new Promise<number>((resolve) => (this.finish = resolve));
  }

  /**
   * Resolves with the guest's exit code once this node went live and the guest finished, or once the primary,
   * gone, had released the guest's end (endedOnPrimary).
   */
  run(): Promise<number> {
    this.tickTimer = setInterval(() => this.tick(), this.o.tickMs ?? 10);
    this.tick();
    return this.done;
  }

  stop(): void {
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.transport?.close();
    this.primary?.stop();
  }

  /** Heartbeats the channel's stand-in sent for this side (Transport.whileBusy), over every connection so far. */
  get standInBeats(): number {
    return this.closedBeats + (this.transport?.standInBeats ?? 0);
  }

  private closedBeats = 0;

  /** A primary connected (authenticated): this is now the logging channel. */
  attach(t: Transport): void {
    if (this.stopped || this.primary) {
      t.close();
      return;
    }
    this.transport?.close();
    this.transport = t;
    // The helper thread that speaks for this side while the guest computes, started before the guest runs.
    t.prepareStandIn?.();
    listenChannel(
      t,
      (m) => {
        this.core.step({ type: 'message', message: m });
        // Acks that let a held output go leave at once (ackOutputsAtOnce); without that, tick so they do.
        if (!this.core.config.ackOutputsAtOnce) this.coreTick();
        this.act();
      },
      (err) => {
        if (this.transport === t) {
          this.closedBeats += t.standInBeats ?? 0;
          this.transport = undefined;
        }
        if (this.stopped || this.primary) return;
        this.o.log(`secondary: logging channel closed${err ? ` (${err.code}: ${err.message})` : ''}`);
        this.core.step({ type: 'peer-lost' });
        this.act();
      },
    );
    this.o.log('secondary: primary connected');
    this.core.step({ type: 'peer-connected' });
    this.act();
  }

  private readonly logSendError = (l: string): void => this.o.log(`secondary: ${l}`);

  /** Set after a guest slice long enough that messages may wait unread; the next core tick passes it on. */
  private deaf = false;

  private coreTick(): void {
    const deaf = this.deaf;
    this.deaf = false;
    this.core.tick(this.now(), deaf);
  }

  private tick(): void {
    if (this.stopped || this.primary) return;
    this.coreTick();
    this.act();
  }

  /** Acts on ready(); restores and go-live wait until the guest stands at a boundary (see pump). */
  private act(): void {
    if (this.primary) return;
    const r = this.core.ready();
    sendAllOnChannel(this.transport, r.messages, this.logSendError);
    for (const out of r.outputs) if (out.channel >= 0) this.o.emit(out.channel, out.data);
    for (const n of r.notices) this.o.log(`secondary: ${n.kind}: ${n.detail}`);
    for (const e of r.errors) if (!QUIET_ERRORS.has(e.code) || process.env.TWINSTEP_DEBUG) this.o.log(`secondary: error ${e.message}`);
    if (r.discardReplay) {
      this.queue.clear();
      this.replayer = undefined;
      this.awaitingEntry = false;
      this.matchedThrough = -1;
    }
    if (r.restore) this.pendingRestore = r.restore;
    this.queue.push(r.replay);
    if (r.lease) {
      this.o.lease.perform(r.lease, (outcome) => {
        if (this.stopped || this.primary) return;
        this.core.step(outcome);
        this.act();
      });
    }
    if (r.needHashes) {
      this.core.step({ type: 'hashes', hashes: this.machine ? stateHashes(this.machine) : null });
      return this.act();
    }
    if (r.goLive) this.pendingGoLive = r.goLive;
    this.status = r.status;
    this.o.onStatus?.(r.status);
    if (r.ended) return this.endWithPrimary(r.ended);
    this.kick();
  }

  /** True when run() resolved because the guest ended on the primary (nothing was taken over). */
  endedOnPrimary = false;

  /** The primary released the guest's end and is gone: finish with the guest's exit code (134 for a trap). */
  private endWithPrimary(end: HeldOutput): void {
    this.endedOnPrimary = true;
    this.stop();
    this.finish(end.channel === END_TRAP ? 134 : exitCodeOf(end.data));
  }

  private kick(): void {
    if (this.scheduled || this.running || this.stopped || this.primary) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.running || this.stopped || this.primary || this.restoring) return;
    if (this.pendingRestore) {
      const req = this.pendingRestore;
      this.pendingRestore = null;
      this.restoring = true;
      this.stepStartedMs = this.now();
      try {
        const r = await applyTransfer(req.chunks, this.machine && this.module ? { machine: this.machine, module: this.module } : undefined, this.o.sleep.devices, this.between);
        this.machine = r.machine;
        this.module = r.module;
        this.replayer = undefined;
        this.awaitingEntry = false;
        this.ended = undefined;
        this.reported = 0;
        const root = r.machine.digest().root;
        if (this.now() - this.stepStartedMs >= this.core.config.heartbeatMs) this.deaf = true;
        this.o.log(`secondary: restored ${req.reason} transfer ${req.transferId} at host call ${req.callIndex}: ${r.pagesWritten} pages written${root === req.root ? '' : ' (DIGEST DIFFERS)'}`);
        this.core.step({ type: 'restored', transferId: req.transferId, root });
      } catch (e) {
        this.o.log(`secondary: cannot apply transfer ${req.transferId}: ${(e as Error).message}`);
      } finally {
        this.restoring = false;
      }
      this.act();
      return;
    }
    if (this.pendingGoLive) return this.goLive(this.pendingGoLive);
    const machine = this.machine;
    if (!machine) return;
    if (machine.state === 'exited' || machine.state === 'trapped') {
      if (this.queue.peek() === WAIT) return;
      // The replayed guest finished before the end of the log arrived: check the end now that more came.
      if (this.replayer && this.ended) {
        this.replayer.finish(this.ended);
        this.report(machine);
      }
      return;
    }
    if (this.replayer && this.replayer.divergences.length > 0) return; // waiting for the resync
    // The replay runs ahead of the log through pure calls (the primary digests only before logged calls) and
    // waits at the first input or output whose entry has not arrived. A guest that computes after a few pure
    // calls (at start, or after a restore) thus replays that stretch while the primary runs it; waiting for a
    // first entry instead started the stretch only once the primary had finished it, and the ack of that
    // entry waited behind the whole replayed stretch. Once a slice stopped for want of an entry, the next
    // slice waits for one.
    if (this.awaitingEntry && this.queue.peek() === WAIT) return;
    this.replayer ??= new Replayer({
      machine,
      source: this.queue,
      fault: this.o.fault,
      digestsBeforeLoggedCallsOnly: true,
      onMatched: (seq, kind) => {
        // Reported cumulatively at the end of the slice; an output at once (its match may release it).
        this.matchedThrough = seq;
        if (kind !== EntryKind.Input) this.flushMatched();
      },
    });
    this.running = true;
    let result;
    const replayer = this.replayer;
    const slice = (this.slice ??= new SliceTimer(this.o.sliceMs ?? 1));
    slice.start();
    const beatsBefore = this.standInBeats;
    let yielded = false;
    try {
      // Replay in slices too: acks, heartbeats and new entries arrive on the event loop between slices. A guest
      // computing for long without a host call makes a long slice: the channel's stand-in keeps the primary
      // hearing from this side meanwhile.
      result = whileBusy(this.transport, this.core.config.heartbeatMs, this.beat, () => machine.run({
        beforeCall: (c) => {
          if (slice.expired()) {
            yielded = true;
            return PAUSE;
          }
          return replayer.beforeCall(c);
        },
        input: (c) => replayer.input(c),
        output: (c) => replayer.output(c),
      }));
    } finally {
      this.running = false;
      // What the machine's input lane fed since the replayer last looked is matched: acked with this slice.
      replayer.catchUp();
    }
    // A slice longer than a heartbeat kept this process from its I/O: the next tick says so (see SecondaryCore.tick).
    const ran = slice.elapsedMs();
    if (ran >= this.core.config.heartbeatMs) this.deaf = true;
    const long = slice.longSliceWarning(ran, this.core.config.peerTimeoutMs, this.standInBeats > beatsBefore);
    if (long) this.o.log(`secondary: ${long}`);
    if (yielded) this.kick();
    this.awaitingEntry = result.status === 'paused' && !yielded;
    if (result.status !== 'paused') {
      this.ended = result;
      this.replayer.finish(result);
    }
    this.report(machine);
  }

  /** When the current step of a transfer's apply started (see between). */
  private stepStartedMs = 0;

  /**
   * Between the long steps of applying a transfer: the event loop runs (heartbeats go out, messages come in).
   * A step that took a heartbeat or longer is this side's deafness, not the primary's silence: the core is
   * told (a deaf tick) before any timer could judge the primary by it.
   */
  private readonly between = async (): Promise<void> => {
    if (this.now() - this.stepStartedMs >= this.core.config.heartbeatMs) {
      this.deaf = true;
      this.tick();
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.stepStartedMs = this.now();
  };

  /** The last replay slice stopped at a call whose entry has not arrived (the next one waits for entries). */
  private awaitingEntry = false;

  /** The run's end (exited or trapped), kept to re-check the log's end marker when it arrives. */
  private ended: RunResult | undefined;

  /** Highest seq the replayer matched that the core has not been told about (-1: none). */
  private matchedThrough = -1;

  private flushMatched(): void {
    if (this.matchedThrough < 0) return;
    const seq = this.matchedThrough;
    this.matchedThrough = -1;
    this.core.step({ type: 'replayed', seq });
  }

  private report(machine: WasiMachine): void {
    // Everything this slice matched, before anything else happens to the replay (a divergence, a transfer).
    this.flushMatched();
    // Match acks that release outputs went out with the match (ackOutputsAtOnce); without that, tick so they do.
    if (!this.core.config.ackOutputsAtOnce) this.coreTick();
    const divs = this.replayer?.divergences ?? [];
    if (divs.length > this.reported) {
      const d = divs[this.reported];
      this.reported = divs.length;
      this.o.log(`secondary: DIVERGENCE ${d.kind} at entry #${d.seq} (host call ${d.callIndex}): ${d.message}`);
      this.core.step({ type: 'diverged', seq: d.seq, callIndex: d.callIndex, reason: reasonOf(d), detail: d.message, hashes: stateHashes(machine) });
    }
    this.act();
  }

  private goLive(g: GoLive): void {
    this.pendingGoLive = null;
    const machine = this.machine;
    if (!machine || !this.module) {
      this.o.log('secondary: cannot go live: no state was ever transferred');
      return;
    }
    this.o.log(`secondary: GOING LIVE at host call ${g.callIndex}, seq ${g.nextSeq}, epoch ${g.epoch}`);
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.transport?.close();
    const p = new PrimaryDriver({
      machine,
      module: this.module,
      sleep: this.o.sleep,
      vmId: this.o.vmId,
      nodeId: this.o.nodeId,
      core: this.o.primaryCore,
      start: { mode: 'unprotected', epoch: g.epoch, nextSeq: g.nextSeq, callIndex: g.callIndex, leaseUntilMs: g.leaseUntilMs, leaseEpoch: g.leaseEpoch },
      lease: this.o.lease,
      emit: this.o.emit,
      log: this.o.log,
      digestEveryCalls: this.o.digestEveryCalls,
      digestBudget: this.o.digestBudget,
      connect: this.o.rejoin,
      checkpointFile: this.o.checkpointFile,
      checkpointEveryMs: this.o.checkpointEveryMs,
      ended: this.ended,
      ...this.o.liveHooks,
    });
    this.primary = p;
    this.o.onLive?.(p);
    p.run().then((code) => this.finish(code));
  }
}

