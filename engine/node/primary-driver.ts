/**
 * The primary's driver: wires a live WASI machine, a PrimaryCore, the logging channel and the lease together.
 *
 * The guest runs synchronously inside `machine.run()`, so the driver runs it in SLICES: it pauses the guest at a
 * host-call boundary when the core says so (backpressure, stun), when a checkpoint is due, when the guest would
 * sleep (the sleep becomes a timer), and at least every `sliceMs` — acks, heartbeats and lease renewals can only
 * arrive on the event loop between slices, and output hold time depends on it.
 *
 * Outputs never leave on their own: every output is stepped into the core and dispatched only when ready()
 * lists it (the release rule is the core's).
 */
import { performance } from 'node:perf_hooks';
import { renameSync, writeFileSync } from 'node:fs';
import { EXIT_CHANNEL, PAUSE, type HostCallHandler, type HostCallInfo, type InputCall, type OutputCall, type RunResult } from '../machine/machine.ts';
import { PrimaryCore, type PrimaryStart } from '../core/primary-core.ts';
import type { PrimaryConfig } from '../core/config.ts';
import type { CheckpointRequest, PrimaryStatus } from '../core/primary-types.ts';
import type { Message } from '../core/messages.ts';
import { DigestTrack, encodeDigestPayload } from '../log/digest-payload.ts';
import { END_CALLS, END_TRAP, exitCodeBytes } from '../log/end-marker.ts';
import type { LoadedModule } from '../wasi/loader.ts';
import type { WasiMachine } from '../wasi/machine.ts';
import type { Transport } from '../net/transport.ts';
import { LeaseIo } from './lease-io.ts';
import { callWait, type SleepGate } from './guest-sleep.ts';
import { Precopy, chunkHashXxh64, takeCheckpoint } from './state-transfer.ts';
import { StandInBeat, keepForLater, listenChannel, sendAllOnChannel, whileBusy, type EncodedMessage } from './channel.ts';
import { SliceTimer } from './slice-timer.ts';
import { InputRun } from '../machine/input-run.ts';
import { DigestSchedule } from './digest-schedule.ts';

export interface PrimaryDriverOptions {
  readonly machine: WasiMachine;
  readonly module: LoadedModule;
  readonly sleep: SleepGate;
  readonly vmId: string;
  readonly nodeId: string;
  readonly core: Partial<PrimaryConfig>;
  readonly start: PrimaryStart;
  readonly lease: LeaseIo;
  /** Opens the logging channel (with retries by the driver); undefined: run without a peer. */
  readonly connect?: () => Promise<Transport>;
  /** Where released outputs go. */
  readonly emit: (channel: number, data: Uint8Array) => void;
  /** One-line status messages. */
  readonly log: (line: string) => void;
  /** Digest entries every this many host calls (0: never). */
  readonly digestEveryCalls?: number;
  /**
   * The share of the guest's time the periodic digests may take (0.02: 2%; 0 or absent: no limit, the interval
   * is exact); see DigestSchedule. A digest due while they took more than that waits.
   */
  readonly digestBudget?: number;
  /** Longest time the guest runs without yielding to the event loop. */
  readonly sliceMs?: number;
  /** Do not start the guest until a secondary protects it. */
  readonly waitForSecondary?: boolean;
  /** Host clock for ticks (injected so a test harness could drive it). */
  readonly nowMs?: () => number;
  readonly tickMs?: number;
  readonly reconnectMs?: number;
  /** Called after every ready() with the status (metrics, status pages). */
  readonly onStatus?: (s: PrimaryStatus) => void;
  /** Measurement hooks for benchmarks: how long each output was held, and every message's size on the wire. */
  readonly onHeld?: (ms: number) => void;
  readonly onSent?: (bytes: number) => void;
  /**
   * Durable checkpoints: every `checkpointEveryMs` the state (with the module) is written to `checkpointFile`
   * (atomically), so a host that comes back after a crash can rejoin with only the delta (failback).
   */
  readonly checkpointFile?: string;
  readonly checkpointEveryMs?: number;
  /** Called when the guest's exit was released (everything before it is out). */
  readonly onExitReleased?: () => void;
  /**
   * How the guest ended, when the machine is handed over already ended (a secondary going live after its replay
   * reached the guest's exit or trap): the driver finishes with that end instead of running the machine.
   */
  readonly ended?: RunResult;
  /** Called with stun/transfer figures of each checkpoint. */
  readonly onCheckpoint?: (f: { kind: CheckpointRequest['kind']; stun: boolean; stunMs: number; sentBytes: number; fullBytes: number }) => void;
}

/**
 * Window sizes for a real channel: a host-call-heavy guest produces millions of entries a second, and the
 * core's conservative defaults (sized for the simulator) would stall it on every round trip. The replay lag
 * bound is what a failover may have to replay (262144 entries: ~50-100 ms of replay); the in-flight bound a few
 * round trips of such a guest.
 */
export const PRIMARY_DRIVER_DEFAULTS = {
  batchEntriesMax: 4096,
  inflightEntriesMax: 65_536,
  lagEntriesMax: 262_144,
  chunkHash: chunkHashXxh64,
  // send() encodes every message it is given before it returns, or keeps it encoded (outQueue).
  reuseLogBuffers: true,
} as const;

/** Operating errors that are routine around (re)connects: logged only with TWINSTEP_DEBUG. */
export const QUIET_ERRORS: ReadonlySet<string> = new Set(['E_STALE_EPOCH', 'E_EPOCH_AHEAD']);

/** State-chunk bytes sent per event-loop turn (PrimaryDriver.send). */
const SEND_TURN_BYTES = 8 << 20;

/** Bytes of memory a pre-copy step takes (between two guest slices; see Precopy). */
const PRECOPY_STEP_BYTES = 4 << 20;

/** Poll sleeps shorter than this are slept in place: a timer would cost more than it saves. */
const SLEEP_IN_PLACE_NS = 200_000n;

/** How often a guest waiting for stdin looks again, with devices that cannot read it in the background. */
const STDIN_RECHECK_MS = 5;

export class PrimaryDriver {
  readonly core: PrimaryCore;
  private transport: Transport | undefined;
  private corePause = false;
  private checkpointReq: CheckpointRequest | null = null;
  private readonly precopy = new Map<number, BigUint64Array>();
  private sleepUntilMs = 0;
  private sleptAt = -1;
  /** The call at sleptAt also waits for stdin to be readable (a read of stdin, a poll on it). */
  private sleepOnStdin = false;
  /** The call whose wait has its timer (and background stdin read) set. */
  private wakersAt = -1;
  private running = false;
  private scheduled = false;
  private readonly slice: SliceTimer;
  private started = false;
  private exited: number | undefined;
  private exitStepped = false;
  private exitReleased = false;
  /** Seq of the guest's end (its exit output) once stepped; -1 before. */
  private exitSeq = -1;
  private stopped = false;
  private readonly track = new DigestTrack();
  private readonly digests: DigestSchedule;
  private tickTimer: NodeJS.Timeout | undefined;
  private finish!: (code: number) => void;
  private readonly done: Promise<number>;
  private readonly handler: HostCallHandler;
  /** Repeated input calls taken without input() (engine/machine/input-run.ts); closed before anything else happens. */
  private readonly inputRun: InputRun;
  private readonly now: () => number;
  /** The heartbeat the channel's stand-in repeats while the guest runs long (see pump). */
  private readonly beat: StandInBeat;
  status: PrimaryStatus | undefined;

  constructor(private readonly o: PrimaryDriverOptions) {
    this.now = o.nowMs ?? (() => Date.now());
    this.slice = new SliceTimer(o.sliceMs ?? 1);
    this.digests = new DigestSchedule({ everyCalls: o.digestEveryCalls, budget: o.digestBudget });
    this.core = new PrimaryCore({ ...PRIMARY_DRIVER_DEFAULTS, ...o.core, vmId: o.vmId }, o.start);
    this.beat = new StandInBeat(this.now, this.core.config.heartbeatMs, () => this.core.heartbeat());
    this.done = new Promise<number>((resolve) => (this.finish = resolve));
    this.inputRun = new InputRun((first, count, call, request, words, width) => {
      if (this.core.inputRun(first, count, call, request, words, width)) this.act();
    });
    this.handler = {
      beforeCall: (c) => this.beforeCall(c),
      input: (c) => this.input(c),
      output: (c) => this.output(c),
      inputRun: this.inputRun,
    };
  }

  /** Runs until the guest exited and its exit was released (or the driver was stopped). Resolves the exit code. */
  run(): Promise<number> {
    this.tickTimer = setInterval(() => this.tick(), this.o.tickMs ?? 10);
    if (this.o.connect) void this.connectLoop();
    this.tick();
    return this.done;
  }

  /**
   * A planned stop of this node (the command's SIGTERM or SIGINT), as gentle as the pair allows. The guest stops
   * at its next host call (at the end of the current slice). With a secondary protecting it, the driver then waits
   * until that secondary acknowledged every entry and every output left the gate, lets a few heartbeats tell it
   * the last released seq, gives the lease up and finishes with `code`: the secondary, finding the channel
   * closed and the lease free, goes live at once and repeats no output. Without one (or when the secondary does
   * not catch up within `limitMs`) it finishes at once: the guest stops there, as if this node had crashed.
   * `say` gets what happened.
   */
  switchOver(code: number, limitMs: number, say: (line: string) => void): void {
    if (this.switching || this.stopped || this.completing) return;
    this.switching = { code, startedMs: this.now(), limitMs, readyMs: -1, say };
    this.tick();
  }

  private switching: { code: number; startedMs: number; limitMs: number; readyMs: number; say: (line: string) => void } | undefined;

  /** At every tick of a switch-over: finishes it once the secondary holds everything (see switchOver). */
  private checkSwitchOver(): void {
    const h = this.switching!;
    const s = this.status;
    const now = this.now();
    if (!s || s.mode !== 'protected' || s.deposed) {
      return this.endSwitchOver(false, s?.deposed ? 'this node was deposed meanwhile' : `no secondary protects the guest (${s?.mode ?? 'not started'}): it stops here, and no node runs it on`);
    }
    const caughtUp = s.heldOutputs === 0 && s.receivedSeq >= s.nextSeq - 1;
    if (!caughtUp) {
      h.readyMs = -1;
      if (now - h.startedMs >= h.limitMs) this.endSwitchOver(false, `the secondary did not take every entry within ${h.limitMs} ms (acked ${s.receivedSeq} of ${s.nextSeq - 1}, ${s.heldOutputs} outputs held): stopping as a crash would, the secondary goes live from what it has`);
      return;
    }
    if (h.readyMs < 0) h.readyMs = now;
    // Heartbeats carry the released seq: a few of them, so the secondary repeats nothing at its go-live.
    if (now - h.readyMs >= 3 * this.core.config.heartbeatMs) this.endSwitchOver(true, `the secondary holds every entry (seq ${s.nextSeq - 1}) and knows every output released: giving the lease up; it goes live now`);
  }

  private endSwitchOver(clean: boolean, why: string): void {
    const h = this.switching!;
    h.say(`primary: switch-over: ${why}`);
    const code = h.code;
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    // The lease goes first (not its fence's ended mark: the run goes on elsewhere), then the channel: the
    // secondary's loss of the primary and its lease request find the lease free.
    const closeAndFinish = (): void => {
      this.transport?.close();
      this.finish(code);
    };
    if (!clean) return closeAndFinish();
    this.o.lease.giveUp().then(closeAndFinish, (e: unknown) => {
      h.say(`primary: switch-over: could not give the lease up (${e instanceof Error ? e.message : String(e)}): the secondary takes it once it runs out`);
      closeAndFinish();
    });
  }

  /** Stops everything (used on shutdown and by tests); the guest stays paused. */
  stop(): void {
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.transport?.close();
  }

  // ---- channel ---------------------------------------------------------------------------------------

  /** The reason the last connect attempt failed, until one succeeds. */
  private connectError: string | undefined;

  private async connectLoop(): Promise<void> {
    while (!this.stopped) {
      if (!this.transport) {
        try {
          const t = await this.o.connect!();
          if (this.stopped) {
            t.close();
            return;
          }
          this.connectError = undefined;
          this.attach(t);
        } catch (e) {
          // The secondary is not there (yet), or refused this node: keep trying; the core decides what that means
          // for outputs. Said once per reason, so an operator on this host sees why (a wrong secret, say).
          const why = (e as Error).message ?? String(e);
          if (why !== this.connectError) {
            this.connectError = why;
            this.o.log(`primary: cannot connect to the secondary: ${why}; retrying every ${this.o.reconnectMs ?? 200} ms`);
          }
        }
      }
      await new Promise((r) => setTimeout(r, this.o.reconnectMs ?? 200));
    }
  }

  private attach(t: Transport): void {
    this.transport = t;
    // The helper thread that speaks for this side while the guest computes, started before the guest runs.
    t.prepareStandIn?.();
    this.outQueue = []; // meant for the last connection: the core sends again what the new one needs
    listenChannel(
      t,
      (m) => {
        // Time first: a message may release outputs, and whether the lease still allows that must be judged
        // at the current time, not at the last tick's (after a freeze the socket is read before any timer).
        this.core.tick(this.now());
        this.core.step({ type: 'message', message: m });
        this.act();
      },
      (err) => {
        if (this.transport === t) {
          this.closedBeats += t.standInBeats ?? 0;
          this.transport = undefined;
          this.outQueue = [];
        }
        if (this.stopped) return;
        this.o.log(`primary: logging channel closed${err ? ` (${err.code}: ${err.message})` : ''}`);
        this.core.step({ type: 'peer-lost' });
        this.act();
      },
    );
    this.o.log('primary: secondary connected');
    this.core.step({ type: 'peer-connected' });
    this.act();
  }

  private readonly logSendError = (l: string): void => this.o.log(`primary: ${l}`);
  private readonly countSent = (n: number): void => this.o.onSent?.(n);

  /**
   * Messages waiting behind a state transfer's chunks (in order; see send). An entries message waits encoded:
   * its block's buffer is the core's to reuse once the entries are acknowledged (reuseLogBuffers).
   */
  private outQueue: Array<Message | EncodedMessage> = [];
  private drainScheduled = false;

  /**
   * Sends in order. A transfer's chunks go at most SEND_TURN_BYTES per event-loop turn, and everything after
   * them waits its turn behind them: encoding and writing a large state at once kept the guest, acks and
   * heartbeats waiting (seconds for 256 MiB on a slow host).
   */
  private send(messages: readonly Message[]): void {
    if (this.outQueue.length === 0 && !messages.some((m) => m.type === 'state-chunk')) {
      sendAllOnChannel(this.transport, messages, this.logSendError, this.countSent);
      return;
    }
    for (const m of messages) {
      const kept = keepForLater(m, this.logSendError);
      if (kept !== undefined) this.outQueue.push(kept);
    }
    this.drainOut();
  }

  private drainOut(): void {
    let bytes = 0;
    let n = 0;
    while (n < this.outQueue.length && bytes < SEND_TURN_BYTES) {
      const m = this.outQueue[n++]!;
      if (!('encoded' in m) && m.type === 'state-chunk') bytes += m.payload.length;
    }
    sendAllOnChannel(this.transport, this.outQueue.splice(0, n), this.logSendError, this.countSent);
    if (this.outQueue.length === 0 || this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      if (!this.stopped) this.drainOut();
    });
  }

  // ---- core ------------------------------------------------------------------------------------------

  private tick(): void {
    if (this.stopped) return;
    this.core.tick(this.now());
    this.act();
    if (this.switching && !this.stopped) this.checkSwitchOver();
  }

  /** Acts on everything the core asked for, in the documented order. */
  private act(): void {
    const r = this.core.ready();
    this.send(r.messages);
    for (const out of r.outputs) {
      if (this.o.onHeld) {
        const t = this.heldSince.get(out.seq);
        if (t !== undefined) {
          this.heldSince.delete(out.seq);
          this.o.onHeld(performance.now() - t);
        }
      }
      if (out.channel >= 0) this.o.emit(out.channel, out.data);
    }
    if (this.o.onHeld) this.forgetLeft(r.status.releasedSeq);
    // The guest's end left the gate: released here, or dropped once the secondary dispatched it (secondary
    // dispatch never lists it among the outputs, so the seq, not the list, tells).
    if (this.exitSeq >= 0 && !this.exitReleased && r.status.releasedSeq >= this.exitSeq) {
      this.exitReleased = true;
      this.o.onExitReleased?.();
    }
    // A lease that ran out while the guest computed through its renewal is said once, as what it is (a note),
    // not as a lost lease: the pair stays protected, and the outputs wait for the renewal that follows.
    const lapse = (r.notices.length > 0 || r.errors.length > 0) && this.leaseLapsedInSlice();
    for (const n of r.notices) {
      if (lapse && n.kind === 'lease-lost') {
        const note = this.slice.leaseLapseNote(this.slice.elapsedMs());
        if (note) this.o.log(`primary: ${note}`);
      } else this.o.log(`primary: ${n.kind}: ${n.detail}`);
    }
    for (const e of r.errors) {
      if (lapse && e.code === 'E_LEASE_LOST') continue;
      if (!QUIET_ERRORS.has(e.code) || process.env.TWINSTEP_DEBUG) this.o.log(`primary: error ${e.message}`);
    }
    this.corePause = r.pause;
    if (r.lease) {
      this.o.lease.perform(r.lease, (outcome) => {
        if (this.stopped) return;
        this.core.step(outcome);
        this.act();
      });
    }
    if (r.checkpoint) this.checkpointReq = r.checkpoint;
    this.status = r.status;
    this.o.onStatus?.(r.status);
    if (this.exited !== undefined && this.exitReleased) return this.complete();
    this.kick();
  }

  private completing = false;

  /**
   * The guest's end was released. Keep ticking for a few heartbeats so the secondary hears the final released
   * seq (otherwise it would count the last outputs as possibly unreleased and repeat them if it went live),
   * then mark the lease's fence ended and give the lease up, so nobody waits for it to expire and the VM can
   * be started again.
   */
  private complete(): void {
    if (this.stopped || this.completing) return;
    this.completing = true;
    const lingerMs = 3 * (this.o.core.heartbeatMs ?? 50);
    setTimeout(() => {
      const code = this.exited!;
      this.stop();
      // The fence says the run ended (a new run of the VM may start at the next epoch), then the lease goes.
      this.o.lease.endRun().then(
        () => this.finish(code),
        (e: unknown) => {
          this.o.log(`primary: could not give the lease up at the end: ${e instanceof Error ? e.message : String(e)}`);
          this.finish(code);
        },
      );
    }, lingerMs);
  }

  // ---- the guest -------------------------------------------------------------------------------------

  private kick(): void {
    if (this.scheduled || this.running || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.running || this.stopped) return;
    if (this.checkpointReq) {
      const req = this.checkpointReq;
      // One transfer at a time: a new request replaces a pre-copy still under way (its transfer is gone).
      this.precopyJob = null;
      // A checkpoint (or a pre-copy's first piece) that took long ends this turn: heartbeats and acks get the
      // event loop before the guest runs on.
      if (req.kind === 'full' && !req.stun ? this.startPrecopy(req) : this.checkpoint(req)) return;
    }
    if (this.precopyJob && this.precopyStep()) return;
    if (this.corePause) return; // resumed by the event that lifts the pause
    if (this.switching) return; // stopped for good: the secondary takes over (switchOver)
    if (this.exitOwed !== undefined) {
      this.stepOwedExit();
      this.core.tick(this.now());
      this.act();
      return;
    }
    if (this.exited !== undefined) return;
    if (!this.started && this.o.waitForSecondary && this.status?.mode !== 'protected') return;
    const wait = this.sleepUntilMs - this.now();
    if (wait > 0) {
      // The wakers of a wait are set once (pump runs at every ack and heartbeat meanwhile).
      const arm = this.wakersAt !== this.sleptAt;
      this.wakersAt = this.sleptAt;
      const wake = (): void => {
        this.wakersAt = -1; // a waker that came a little early arms the next
        this.kick();
      };
      if (!this.sleepOnStdin) {
        if (arm) setTimeout(wake, wait);
        return;
      }
      const d = this.o.sleep.devices;
      if (d.stdinBuffered && d.stdinFill ? !d.stdinBuffered() : !d.stdinReady()) {
        if (!d.stdinFill) {
          setTimeout(() => this.kick(), Math.min(wait, STDIN_RECHECK_MS));
        } else if (arm) {
          // Woken by what comes in, and by the clock when the call has one.
          d.stdinFill(wake);
          if (Number.isFinite(wait)) setTimeout(wake, wait);
        }
        return;
      }
      this.sleepUntilMs = 0; // stdin is readable: the call runs now, its clocks not yet due
    }
    this.started = true;
    this.running = true;
    this.slice.start();
    this.sliceBeats = this.standInBeats;
    let result: RunResult;
    try {
      const m = this.o.machine;
      // The guest may compute for long without a host call: the channel's stand-in keeps the secondary hearing
      // from this side meanwhile (a primary silent for the peer timeout would be taken for dead).
      result = (m.state === 'exited' || m.state === 'trapped') && this.o.ended ? this.o.ended : whileBusy(this.transport, this.core.config.heartbeatMs, this.beat, () => m.run(this.handler));
    } finally {
      this.running = false;
      // A guest that trapped (or a slice that ended any other way) leaves the calls the run took to the core.
      this.inputRun.close();
    }
    if (result.status === 'paused') this.maybeWriteCheckpoint();
    if (result.status === 'exited' || result.status === 'trapped') {
      const code = result.status === 'exited' ? result.code : 134;
      if (result.status === 'trapped') this.o.log(`primary: ${result.error.message}`);
      if (!this.exitStepped) {
        // The guest returned from _start (or trapped): its end still goes through the log and the gate, once
        // the core lets a guest event in (its last output may have filled the gate: the core then says pause,
        // and an ack lifts it).
        this.exitStepped = true;
        this.exitOwed = code;
        this.trapOwed = result.status === 'trapped' ? result.error.message : undefined;
        if (!this.corePause) this.stepOwedExit();
      }
      this.exited = code;
    }
    // End of a slice: flush the batched entries now (the core otherwise sends them at its next tick). A slice
    // longer than a heartbeat kept this process from its I/O: the core must not count that as the peer's silence.
    const ran = this.slice.elapsedMs();
    this.lastSliceStoodIn = this.standInBeats > this.sliceBeats;
    this.core.tick(this.now(), ran >= this.core.config.heartbeatMs);
    const long = this.slice.longSliceWarning(ran, this.core.config.peerTimeoutMs, this.lastSliceStoodIn);
    if (long) this.o.log(`primary: ${long}`);
    this.act();
    this.lastSliceStoodIn = false;
  }

  /** The channel's stand-in heartbeat count when the current (or last) guest slice started. */
  private sliceBeats = 0;
  /** The slice that just ended had the stand-in send heartbeats for this side (until its act() is done). */
  private lastSliceStoodIn = false;

  /**
   * A lease that ran out now did so because the guest computed through its renewal: the stand-in kept the
   * heartbeats going through this slice (or the one just ended), but the lease is renewed between slices only.
   */
  private leaseLapsedInSlice(): boolean {
    return this.lastSliceStoodIn || (this.running && this.standInBeats > this.sliceBeats);
  }

  /** The exit code of a guest that returned from _start or trapped, until its end is stepped (see pump). */
  private exitOwed: number | undefined;
  /** The trap's message when the guest trapped: its end is a trap marker, as in a trace. */
  private trapOwed: string | undefined;

  private stepOwedExit(): void {
    const code = this.exitOwed!;
    const trap = this.trapOwed;
    this.exitOwed = undefined;
    this.trapOwed = undefined;
    this.exitSeq = this.core.upcomingSeq;
    const callIndex = this.o.machine.callIndex;
    if (trap !== undefined) this.core.step({ type: 'output', callIndex, call: END_CALLS[END_TRAP]!, channel: END_TRAP, data: Buffer.from(trap) });
    else this.core.step({ type: 'output', callIndex, call: 'proc_exit', channel: EXIT_CHANNEL, data: exitCodeBytes(code) });
  }

  private lastDurableMs = 0;

  private maybeWriteCheckpoint(): void {
    const file = this.o.checkpointFile;
    if (!file || this.now() - this.lastDurableMs < (this.o.checkpointEveryMs ?? 1000)) return;
    this.lastDurableMs = this.now();
    try {
      const bytes = this.o.machine.snapshot().encode({ vmId: this.o.vmId, module: this.o.module });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, bytes);
      renameSync(tmp, file);
    } catch (e) {
      this.o.log(`primary: cannot write checkpoint ${file}: ${(e as Error).message}`);
    }
  }

  /**
   * Takes and hands over a checkpoint; true when that took a heartbeat or longer (the caller then yields before
   * running the guest). A large one keeps this thread from its socket for a while: encoding the state, then
   * handing its chunks over. Neither is the peer's silence: the core is told after each (a deaf tick), or the
   * next timer, which runs before the socket is read, would declare the peer lost.
   */
  private checkpoint(req: CheckpointRequest): boolean {
    this.checkpointReq = null;
    // Deafness is judged on the core's clock; the stun figure is measured with the performance clock.
    const c0 = this.now();
    const t0 = performance.now();
    const r = takeCheckpoint(this.o.machine, this.o.module, this.o.vmId, req, this.precopy.get(req.transferId));
    if (!req.stun) this.precopy.set(req.transferId, r.pageDigests);
    else this.precopy.delete(req.transferId);
    const stunMs = performance.now() - t0;
    this.o.onCheckpoint?.({ kind: req.kind, stun: req.stun, stunMs, sentBytes: r.sentBytes, fullBytes: r.fullBytes });
    this.o.log(`primary: checkpoint ${req.kind}${req.stun ? ' (stun)' : ''} at host call ${r.callIndex}: ${r.sentBytes} bytes (full state ${r.fullBytes}), ${stunMs.toFixed(1)} ms`);
    return this.handOver(req.transferId, r.callIndex, r.root, r.chunks, c0);
  }

  /**
   * Steps a checkpoint's chunks into the core and acts (the core hashes them; the first ones leave), with a
   * deaf tick after the work since `since` and after the hand-over when either took a heartbeat or longer;
   * true when one did.
   */
  private handOver(transferId: number, callIndex: number, root: bigint, chunks: readonly Uint8Array[], since: number): boolean {
    const c1 = this.now();
    const long = this.deafAfter(since);
    this.core.step({ type: 'checkpoint', transferId, callIndex, root, chunks });
    this.act();
    return this.deafAfter(c1) || long;
  }

  /** A full pre-copy under way, taken in steps between guest slices (see Precopy). */
  private precopyJob: {
    readonly job: Precopy;
    readonly req: CheckpointRequest;
    steps: number;
    longestMs: number;
    totalMs: number;
    /** The next step waits until the guest has run at least as long as the last step took. */
    nextStepAt: number;
  } | null = null;

  /** Starts a pre-copy (its first piece); true when that took a heartbeat or longer (see checkpoint). */
  private startPrecopy(req: CheckpointRequest): boolean {
    this.checkpointReq = null;
    const c0 = this.now();
    const t0 = performance.now();
    const job = new Precopy(this.o.machine, this.o.module, this.o.vmId);
    const ms = performance.now() - t0;
    this.precopyJob = { job, req, steps: 0, longestMs: ms, totalMs: ms, nextStepAt: performance.now() + ms };
    setTimeout(() => this.kick(), Math.ceil(ms));
    return this.deafAfter(c0);
  }

  /** After a long stretch of this side's own work since c0 (core clock): a deaf tick; true when there was one. */
  private deafAfter(c0: number): boolean {
    const now = this.now();
    if (now - c0 < this.core.config.heartbeatMs) return false;
    this.core.tick(now, true);
    this.act();
    return true;
  }

  /**
   * One step of the pre-copy (PRECOPY_STEP_BYTES of pages), when the guest has had its turn since the last;
   * once every page is taken, its chunks go to the core as the transfer's checkpoint. True when the step took
   * a heartbeat or longer (the caller yields, as after a checkpoint).
   */
  private precopyStep(): boolean {
    const p = this.precopyJob!;
    if (!p.job.done && performance.now() < p.nextStepAt) return false;
    const c0 = this.now();
    if (!p.job.done) {
      const t0 = performance.now();
      p.job.step(PRECOPY_STEP_BYTES);
      const ms = performance.now() - t0;
      p.steps++;
      p.totalMs += ms;
      p.longestMs = Math.max(p.longestMs, ms);
      p.nextStepAt = performance.now() + ms;
      if (!p.job.done) {
        // The next step comes back by itself: a sleeping or paused guest brings no slices meanwhile.
        setTimeout(() => this.kick(), Math.ceil(ms));
        return this.deafAfter(c0);
      }
    }
    this.precopyJob = null;
    // The transfer may be gone meanwhile (the joiner was lost): then nobody wants these chunks.
    if (this.status?.mode !== 'protecting') return false;
    const { job, req } = p;
    this.precopy.set(req.transferId, job.pageDigests);
    // Handing the chunks over is a pause of its own. The root is not checked for a pre-copy (its pages are of
    // different moments): the stunned delta's is.
    const t0 = performance.now();
    const long = this.handOver(req.transferId, this.o.machine.callIndex, 0n, job.chunks(), c0);
    const handoverMs = performance.now() - t0;
    const longestMs = Math.max(p.longestMs, handoverMs);
    this.o.onCheckpoint?.({ kind: req.kind, stun: false, stunMs: longestMs, sentBytes: job.sentBytes, fullBytes: job.sentBytes });
    this.o.log(
      `primary: checkpoint full (pre-copy) at host call ${this.o.machine.callIndex}: ${job.sentBytes} bytes in ${p.steps} steps while the guest ran, longest pause ${longestMs.toFixed(1)} ms (${(p.totalMs + handoverMs).toFixed(1)} ms in all, hand-over ${handoverMs.toFixed(1)} ms)`,
    );
    return long;
  }

  private beforeCall(c: HostCallInfo): typeof PAUSE | void {
    if (this.corePause || this.checkpointReq || this.stopped || this.slice.expired()) {
      // The guest stops here: the calls the input run took go to the core first.
      this.inputRun.close();
      return PAUSE;
    }
  }

  /**
   * A periodic Digest entry, when one is due, for the state before the call being logged. Taken inside the
   * input or output handler, never before a pure call (docs/PROTOCOL.md, "Digests"): the secondary then
   * replays through pure calls without waiting for the log. The host functions only read guest state before
   * they call the handler, so the state here is the state at the start of the call.
   */
  private periodicDigest(index: number): boolean {
    if (!this.digests.periodic(index)) return false;
    this.stepDigest(index);
    return true;
  }

  /**
   * Whether the entry just stepped (a digest) brought the core to a bound (in-flight entries, replay lag): then
   * the call's own entry must wait, and the handler answers PAUSE; the call comes again once the pause lifts,
   * its digest already taken (stepDigest takes one per index).
   */
  private boundReached(): boolean {
    if (this.core.hasReady) this.act();
    return this.corePause;
  }

  private input(call: InputCall): Uint8Array | typeof PAUSE {
    const run = this.inputRun;
    run.close();
    const waits = call.name === 'poll_oneoff' || call.name === 'fd_read';
    if (waits && this.sleptAt !== call.index) {
      const w = callWait(call.name, call.request, this.o.sleep.devices);
      if (w && (w.stdin || w.sleepNs! > SLEEP_IN_PLACE_NS)) {
        // Wait with a timer (and for stdin, by looking again), not in the guest: the event loop must keep serving
        // acks, heartbeats and lease renewals. A guest blocked in a read of stdin stopped them all, and the
        // secondary took over from a primary that was only waiting for its input.
        this.sleptAt = call.index;
        this.sleepOnStdin = w.stdin;
        this.sleepUntilMs = w.sleepNs === undefined ? Infinity : this.now() + Number(w.sleepNs) / 1e6;
        return PAUSE;
      }
    }
    // Back at the call it waited for: its clocks are due (skip the poll's sleeps), or stdin is readable.
    if (this.sleptAt === call.index && this.sleepUntilMs !== 0) this.o.sleep.waited();
    if (this.periodicDigest(call.index) && this.boundReached()) return PAUSE;
    // live()'s bytes last until the next host call: the core copies them (and the request) into its log at once.
    const data = call.live();
    this.o.sleep.callDone();
    // Entries are batched by the core and flushed at the end of the slice (tick); act only when the core has
    // something to say, so a host-call-heavy guest does not pay for a full ready() per call.
    if (this.core.input(call.index, call.name, call.request, data)) this.act();
    // The next calls may repeat this one: an input run takes them while the core's short path would (no bound,
    // nothing ready) and no digest by count falls due. Never a call that may wait (the driver waits with a timer).
    if (!waits) run.open(call.index + 1, call.name, call.request, data.length, Math.min(this.core.inputRunRoom, this.digests.callsBeforeDue(call.index + 1)));
    return data;
  }

  /** Output seq → when it entered the gate (only with onHeld), while the output is in the gate. */
  private readonly heldSince = new Map<number, number>();

  /**
   * Forgets the outputs at or below `releasedSeq` that left the gate without being released here (dropped
   * after the secondary dispatched them): they never come through act's outputs, and would stay forever.
   * The map is in seq order, so this stops at the first output still held.
   */
  private forgetLeft(releasedSeq: number): void {
    for (const seq of this.heldSince.keys()) {
      if (seq > releasedSeq) return;
      this.heldSince.delete(seq);
    }
  }

  /** Heartbeats the channel's stand-in sent for this side (Transport.whileBusy), over every connection so far. */
  get standInBeats(): number {
    return this.closedBeats + (this.transport?.standInBeats ?? 0);
  }

  private closedBeats = 0;

  /** Host calls the guest has made so far (its position; for status pages). */
  get hostCalls(): number {
    return this.o.machine.callIndex;
  }

  /** Outputs whose hold is being timed (onHeld): those still in the gate. */
  get timedOutputs(): number {
    return this.heldSince.size;
  }

  private output(call: OutputCall): typeof PAUSE | void {
    this.inputRun.close();
    // No digest before the exit (docs/PROTOCOL.md, "Digests"): nothing comes after it for a state check to
    // protect, and hashing the whole memory there held the exit's release (6-16 ms for guests/c/compute).
    if (call.channel === EXIT_CHANNEL) {
      this.exitStepped = true;
      this.exitSeq = this.core.upcomingSeq;
    } else if (this.periodicDigest(call.index) && this.boundReached()) {
      return PAUSE;
    }
    if (this.o.onHeld) this.heldSince.set(this.core.upcomingSeq, performance.now());
    this.core.step({ type: 'output', callIndex: call.index, call: call.name, channel: call.channel, data: call.data.slice() });
    // An output waits for the secondary: flush its entry now rather than at the end of the slice. A slice that ran
    // a heartbeat or longer (a guest computing) kept this side deaf: that is not the secondary's silence.
    this.core.tick(this.now(), this.slice.elapsedMs() >= this.core.config.heartbeatMs);
    this.act();
  }

  /** A Digest entry for the state at host call `index` (before the call). */
  private stepDigest(index: number): void {
    if (this.digests.takenAt(index)) return;
    const [root, payload] = this.digests.take(index, () => {
      const d = this.o.machine.digest();
      return [d.root, encodeDigestPayload(this.track.delta(d))] as const;
    });
    this.core.step({ type: 'digest', callIndex: index, root, payload });
  }
}
