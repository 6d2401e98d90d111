/**
 * The WASI preview1 machine: an Asyncify-instrumented guest, our own WASI host (the virtual hardware), and
 * the plumbing that turns every host call into an event for a driver (engine/machine/machine.ts).
 *
 * Pausing: when a handler answers PAUSE, the machine starts an Asyncify unwind inside the import; the guest's
 * call stack is written into a scratch region at the top of linear memory and `_start` returns. The scratch
 * region's guest content is saved before and put back after, so the guest never sees it: the captured
 * stack is kept outside memory (in `stack`) and written back only for the duration of a rewind.
 */
import { GuestTrap, PAUSE, type HostCallHandler, type Machine, type RunResult, type StateDigest } from '../machine/machine.ts';
import { MachineError } from '../machine/errors.ts';
import { ExitSignal, PauseSignal, type Devices, type WasiConfig, type WasiContext } from './context.ts';
import { GLOBAL_EXPORT_PREFIX, WASI_MODULE, type LoadedModule } from './loader.ts';
import { WasiHost, errnoOf, errnoOfError, unsigned, type HostFunction } from './host.ts';
import type { WasiStateData } from './state.ts';
import { diskOnlyDigest, pageDigests, stateDigest } from '../checkpoint/digest.ts';
import type { MachineState } from './machine-state.ts';
import { WasiSnapshot, decodeMachineState } from './snapshot.ts';
import type { InputRun } from '../machine/input-run.ts';
import { WasiInputLane, type HostImport } from './input-lane.ts';

export interface WasiMachineOptions {
  readonly config: WasiConfig;
  readonly devices: Devices;
  /**
   * Bytes of linear memory borrowed for the Asyncify stack while unwinding/rewinding. Deep recursion at a
   * pause needs more; overflowing it traps the guest with a message that names this option.
   */
  readonly asyncifyStackBytes?: number;
  /**
   * Give the machine an input lane (input-lane.ts): recorded clock and random results fed inside WebAssembly.
   * For replaying machines (replay, the secondary); it makes every other clock_time_get and random_get a few
   * nanoseconds slower, so live machines go without.
   */
  readonly inputLane?: boolean;
}

const ASYNCIFY_STACK_BYTES_DEFAULT = 256 * 1024;
const ASYNCIFY_HEADER_BYTES = 8;
const WASM_PAGE_BYTES = 65536;

const enum Phase {
  Ready,
  Running,
  Paused,
  Exited,
  Trapped,
  /** Stopped from outside in the middle of a run (see interrupted()): retired. */
  Interrupted,
}

export class WasiMachine implements Machine {
  private readonly instance: WebAssembly.Instance;
  private readonly memory: WebAssembly.Memory;
  private readonly exports: Record<string, any>;
  private readonly host: WasiHost;
  /** The input lane, when the machine was made with one and the guest imports its calls (see sync()). */
  readonly inputLane: WasiInputLane | undefined;
  private phase: Phase = Phase.Ready;
  private handler: HostCallHandler | undefined;
  /** The handler's input run for the current run() (HostCallHandler.inputRun), or undefined. */
  private inputRun: InputRun | undefined;
  private index = 0;
  private exitCode = 0;
  private fsTime: bigint;
  /** Captured Asyncify stack of a paused guest (undefined: not started, or not inside any call). */
  private stack: Uint8Array | undefined;
  private unwinding = false;
  private rewinding = false;
  private scratchPtr = 0;
  private scratchSaved: Uint8Array | undefined;
  /** The buffer scratchSaved lives in between pauses (see borrowScratch). */
  private scratchKeep: Uint8Array | undefined;
  /** Set when the current call reached ctx.input/ctx.output, so pure calls can be reported as such. */
  private touched = false;
  /**
   * The objects handlers are shown, one of each per machine, refilled at every call: a host-call-heavy guest
   * makes millions of calls, and an object per call was most of what the collector had to do. A handler reads
   * them during its call only (machine.ts, HostCallHandler); the byte arrays they carry are its to keep.
   */
  private readonly info: CallObject = { index: 0, name: '', request: EMPTY_BYTES, live: noLive, channel: 0, data: EMPTY_BYTES };
  private readonly inputCall: CallObject = { index: 0, name: '', request: EMPTY_BYTES, live: noLive, channel: 0, data: EMPTY_BYTES };
  private readonly outputCall: CallObject = { index: 0, name: '', request: EMPTY_BYTES, live: noLive, channel: 0, data: EMPTY_BYTES };

  private constructor(
    readonly module: LoadedModule,
    private readonly options: WasiMachineOptions,
    wasi: WasiStateData | undefined,
    fsTimeNs: bigint,
  ) {
    this.fsTime = fsTimeNs;
    const ctx: WasiContext = {
      memory: () => this.memory,
      input: (name, request, live) => this.onInput(name, request, live),
      output: (name, channel, data) => this.onOutput(name, channel, data),
      fsTimeNs: () => this.fsTime,
    };
    this.host = wasi ? WasiHost.fromState(wasi, options.config, ctx, options.devices) : new WasiHost(options.config, ctx, options.devices);
    const hostFunctions = this.host.hostFunctions();
    const wrapped: Record<string, Function> = {};
    for (const imp of WebAssembly.Module.imports(module.compiled)) {
      if (imp.module !== WASI_MODULE) continue;
      const fn = hostFunctions[imp.name];
      if (!fn) throw new MachineError('E_UNSUPPORTED_IMPORT', `unsupported import ${imp.module}::${imp.name}`);
      wrapped[imp.name] = this.wrap(imp.name, fn, module.unwindable.has(imp.name));
    }
    let instance: WebAssembly.Instance | undefined;
    if (options.inputLane && (wrapped.clock_time_get || wrapped.random_get)) {
      const lane = new WasiInputLane((wrapped.clock_time_get ?? notImported) as HostImport, (wrapped.random_get ?? notImported) as HostImport);
      const laned = { ...wrapped };
      if (wrapped.clock_time_get) laned.clock_time_get = lane.imports.clock_time_get;
      if (wrapped.random_get) laned.random_get = lane.imports.random_get;
      try {
        instance = new WebAssembly.Instance(module.compiled, { [WASI_MODULE]: laned });
        lane.attach(instance.exports.memory as WebAssembly.Memory);
        this.inputLane = lane;
      } catch (e) {
        // A guest that declares these imports with other types than preview1's links to JavaScript functions
        // only (they take anything), and one whose memory the lane cannot import (a shared memory): it replays
        // without the lane.
        if (!(e instanceof WebAssembly.LinkError)) throw e;
        instance = undefined;
      }
    }
    this.instance = instance ?? new WebAssembly.Instance(module.compiled, { [WASI_MODULE]: wrapped });
    this.exports = this.instance.exports as Record<string, any>;
    this.memory = this.exports.memory as WebAssembly.Memory;
  }

  /** A fresh machine at the start of the guest. Preopens are loaded into the virtual disk now. */
  static create(module: LoadedModule, options: WasiMachineOptions): WasiMachine {
    return new WasiMachine(module, options, undefined, options.config.bootTimeNs ?? 0n);
  }

  /** A fresh machine that continues exactly where the snapshot was taken. */
  static restore(module: LoadedModule, state: MachineState, devices: Devices, asyncifyStackBytes?: number, inputLane?: boolean): WasiMachine {
    if (state.moduleHash !== module.hash) {
      throw new MachineError('E_SNAPSHOT', `snapshot is of module ${hex(state.moduleHash)}, not ${hex(module.hash)}`);
    }
    const m = new WasiMachine(module, { config: state.config, devices, asyncifyStackBytes, inputLane }, state.wasi, state.fsTimeNs);
    m.load(state);
    return m;
  }

  /** Restores from an encoded (full) snapshot; the module must be the snapshot's guest. */
  static restoreEncoded(module: LoadedModule, bytes: Uint8Array, devices: Devices, asyncifyStackBytes?: number, inputLane?: boolean): WasiMachine {
    return WasiMachine.restore(module, decodeMachineState(bytes).state, devices, asyncifyStackBytes, inputLane);
  }

  get callIndex(): number {
    return this.index;
  }

  get state(): Machine['state'] {
    switch (this.phase) {
      case Phase.Ready: return 'ready';
      case Phase.Paused: return 'paused';
      case Phase.Exited: return 'exited';
      case Phase.Trapped: return 'trapped';
      case Phase.Running: throw new Error('machine state read while the guest is running');
      case Phase.Interrupted: throw new MachineError('E_STATE', 'the run was stopped in the middle: this machine cannot be used again');
    }
  }

  /**
   * The run was stopped from outside in the middle (a time limit terminated it, engine/node/time-limit.ts): the
   * guest stands somewhere it cannot be resumed or snapshotted from. Brings the host-call index up to date (the
   * input lane counts calls inside WebAssembly) and retires the machine: run(), state and snapshots refuse it.
   */
  interrupted(): void {
    if (this.phase !== Phase.Running) return;
    this.sync();
    this.phase = Phase.Interrupted;
  }

  /** Exit code once exited. */
  get exitStatus(): number {
    return this.exitCode;
  }

  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  run(handler: HostCallHandler): RunResult {
    if (this.phase === Phase.Exited) return { status: 'exited', code: this.exitCode };
    if (this.phase === Phase.Trapped) throw new MachineError('E_STATE', 'the guest has trapped; restore a snapshot to continue');
    if (this.phase === Phase.Running) throw new Error('run() re-entered while the guest is running');
    if (this.phase === Phase.Interrupted) throw new MachineError('E_STATE', 'the run was stopped in the middle: this machine cannot be used again');
    this.handler = handler;
    this.inputRun = handler.inputRun;
    const resuming = this.phase === Phase.Paused && this.stack !== undefined;
    this.phase = Phase.Running;
    try {
      if (resuming) this.beginRewind();
      this.exports._start();
      this.sync();
      if (this.unwinding) {
        this.endUnwind();
        this.phase = Phase.Paused;
        return { status: 'paused', index: this.index };
      }
      // A command returning from _start exits with 0 (wasi-libc calls proc_exit itself for non-zero).
      this.phase = Phase.Exited;
      this.exitCode = 0;
      return { status: 'exited', code: 0 };
    } catch (e) {
      this.sync();
      if (e instanceof ExitSignal) {
        this.phase = Phase.Exited;
        this.exitCode = e.code;
        return { status: 'exited', code: e.code };
      }
      this.phase = Phase.Trapped;
      const trap = toTrap(e, this.index, this.memory.buffer.byteLength >= this.module.memoryMaxPages * WASM_PAGE_BYTES);
      if (trap) return { status: 'trapped', error: trap };
      throw e;
    } finally {
      // An offer lasts for the run it was made in: the next run may have another handler.
      this.inputLane?.withdraw();
      this.handler = undefined;
      this.inputRun = undefined;
      this.unwinding = false;
      this.rewinding = false;
    }
  }

  /**
   * The state at this host-call boundary. `shareMemory`: the snapshot views the live memory instead of copying
   * it, so it is only valid until the guest runs again (a caller that encodes it at once saves a copy of the
   * whole memory). `pageDigests: false` leaves the page digests out (empty): for a caller that digests only
   * the pages it takes (an incremental pre-copy), hashing the whole memory each time would cost more.
   */
  snapshot(opts: { readonly shareMemory?: boolean; readonly pageDigests?: boolean } = {}): WasiSnapshot {
    if (this.phase === Phase.Running) throw new MachineError('E_STATE', 'snapshot requires the guest to stand at a host-call boundary');
    if (this.phase === Phase.Trapped) throw new MachineError('E_STATE', 'cannot snapshot a trapped guest');
    if (this.phase === Phase.Interrupted) throw new MachineError('E_STATE', 'cannot snapshot a run stopped in the middle');
    const live = new Uint8Array(this.memory.buffer);
    const memory = opts.shareMemory ? live : live.slice();
    const state: MachineState = {
      moduleHash: this.module.hash,
      config: this.options.config,
      callIndex: this.index,
      status: this.phase === Phase.Ready ? 'ready' : this.phase === Phase.Exited ? 'exited' : 'paused',
      exitCode: this.exitCode,
      memory,
      globals: this.readGlobals(),
      asyncifyStack: this.stack?.slice(),
      fsTimeNs: this.fsTime,
      wasi: this.host.exportState(),
    };
    return new WasiSnapshot(state, opts.pageDigests === false ? new BigUint64Array(0) : pageDigests(memory), this.module.globalTypes, typeof this.module.unwind === 'string' ? this.module.unwind : this.module.unwind.join(','));
  }

  /**
   * Digest of the current state. Also valid from inside a handler (beforeCall): the guest then stands at a
   * host-call boundary with its memory and globals final for that point.
   */
  digest(): StateDigest {
    if (this.unwinding || this.rewinding) throw new MachineError('E_STATE', 'digest requires the guest to stand at a host-call boundary');
    return stateDigest(new Uint8Array(this.memory.buffer), this.readGlobals(), this.host.exportState(), this.fsTime);
  }

  /** The device state's digest without the guest's globals (what another build of the guest would start from). */
  diskDigest(): bigint {
    return diskOnlyDigest(this.host.exportState(), this.fsTime);
  }

  pagesChangedSince(base: BigUint64Array): number[] {
    const now = pageDigests(new Uint8Array(this.memory.buffer));
    const changed: number[] = [];
    for (let i = 0; i < now.length; i++) if (i >= base.length || now[i] !== base[i]) changed.push(i);
    return changed;
  }

  /** The WASI device state (fd table, virtual disk) as plain data. */
  deviceState(): WasiStateData {
    return this.host.exportState();
  }

  /** The guest's linear memory (read-only use: checkpoints, tests, fault injection hooks). */
  memoryView(): Uint8Array {
    return new Uint8Array(this.memory.buffer);
  }

  // ---- host calls ------------------------------------------------------------------------------------

  /**
   * The import the guest calls, around a host function (see HostFunction): counts the call, shows it to the
   * handler, runs the function with unsigned i32 arguments and returns its errno. Fixed arity instead of rest
   * arguments and a spread call, which per call cost more than the rest of this wrapper: 4 parameters for
   * functions that declare up to 4 (the frequent ones), 9 (the most preview1 has) for the others; the function
   * ignores the undefined ones beyond its own, as it ignored extra guest arguments before.
   * The inner try is the import boundary (a WasiError becomes the errno, the call completes); the outer one
   * sees what passes it: a pause, an exit, or a failure.
   */
  private wrap(name: string, f: HostFunction, unwindable: boolean): Function {
    const u = unsigned;
    if (f.length <= 4) {
      return (a: unknown, b: unknown, c: unknown, d: unknown) => {
        if (this.enter(name)) return this.pause(name, unwindable);
        try {
          let r: number;
          try {
            r = errnoOf(f(u(a), u(b), u(c), u(d)));
          } catch (e) {
            r = errnoOfError(e);
          }
          return this.leave(r);
        } catch (e) {
          return this.failed(e, name, unwindable);
        }
      };
    }
    if (f.length > 9) throw new Error(`host function ${name} declares ${f.length} parameters; preview1 has at most 9`);
    return (a: unknown, b: unknown, c: unknown, d: unknown, e1: unknown, f1: unknown, g: unknown, h: unknown, i: unknown) => {
      if (this.enter(name)) return this.pause(name, unwindable);
      try {
        let r: number;
        try {
          r = errnoOf(f(u(a), u(b), u(c), u(d), u(e1), u(f1), u(g), u(h), u(i)));
        } catch (e) {
          r = errnoOfError(e);
        }
        return this.leave(r);
      } catch (e) {
        return this.failed(e, name, unwindable);
      }
    };
  }

  /**
   * Takes back what the input lane did since the machine last looked: the calls it answered (the lane keeps the
   * call index while the guest runs) and the realtime clock value it fed last (file timestamps follow it).
   */
  private sync(): void {
    const lane = this.inputLane;
    if (lane === undefined) return;
    this.index = lane.cur;
    const rt = lane.takeRealtime();
    if (rt !== undefined) this.fsTime = rt;
  }

  /** Start of a host call: finishes a rewind that reached it, shows it to beforeCall. True: pause here. */
  private enter(name: string): boolean {
    if (this.rewinding) {
      // The rewind has reached the call that paused: the guest is back where it stood. Stop rewinding,
      // give the scratch region back to the guest, and present the same call again.
      this.exports.asyncify_stop_rewind();
      this.rewinding = false;
      this.restoreScratch();
      this.stack = undefined;
      if (this.inputLane !== undefined) this.inputLane.enabled = true;
    }
    this.sync();
    const handler = this.handler!;
    this.touched = false;
    const info = this.info;
    info.index = this.index;
    info.name = name;
    if (handler.beforeCall === undefined || this.index <= (handler.quietThrough ?? -1)) return false;
    return handler.beforeCall(info) === PAUSE;
  }

  /** The host function returned: the call is done. */
  private leave(result: number): number {
    this.index++;
    if (this.inputLane !== undefined) this.inputLane.cur = this.index;
    if (!this.touched) {
      const handler = this.handler!;
      if (handler.pure) handler.pure(this.info);
    }
    return result;
  }

  /** The host function (or a handler) threw. */
  private failed(e: unknown, name: string, unwindable: boolean): number {
    if (e instanceof PauseSignal) return this.pause(name, unwindable);
    if (e instanceof ExitSignal) {
      this.index++;
      if (this.inputLane !== undefined) this.inputLane.cur = this.index;
    }
    throw e;
  }

  private onInput(name: string, request: Uint8Array, live: () => Uint8Array): Uint8Array {
    this.touched = true;
    // The call's index: `index` only advances once the host function has returned.
    const index = this.index;
    const run = this.inputRun;
    let result: Uint8Array | typeof PAUSE;
    if (run !== undefined && run.takes(index, name, request)) {
      // The handler's open input run takes the call (input-run.ts): performed live, its result logged by the run.
      result = live();
      if (!run.push(result)) result = this.handOver(index, name, request, result);
    } else {
      const call = this.inputCall;
      call.index = index;
      call.name = name;
      call.request = request;
      call.live = live;
      result = this.handler!.input(call);
    }
    if (result === PAUSE) throw new PauseSignal();
    // File timestamps follow the last realtime clock value the guest saw: deterministic under replay.
    if (name === 'clock_time_get' && request.length >= 4 && request[0] === 0 && request[1] === 0 && request[2] === 0 && request[3] === 0 && result.length === 8) {
      this.fsTime = u64At(result);
    }
    return result;
  }

  /** A call the input run took and then refused (its result has another size): the handler gets it, already performed. */
  private handOver(index: number, name: string, request: Uint8Array, done: Uint8Array): Uint8Array | typeof PAUSE {
    const call = this.inputCall;
    call.index = index;
    call.name = name;
    call.request = request;
    call.live = () => done;
    return this.handler!.input(call);
  }

  private onOutput(name: string, channel: number, data: Uint8Array): void {
    this.touched = true;
    const call = this.outputCall;
    call.index = this.index;
    call.name = name;
    call.channel = channel;
    call.data = data;
    if (this.handler!.output(call) === PAUSE) throw new PauseSignal();
  }

  private pause(name: string, unwindable: boolean): number {
    if (!unwindable) {
      throw new MachineError('E_NOT_UNWINDABLE', `cannot pause at ${name}: it is not an unwind point under unwind mode ${JSON.stringify(this.module.unwind)}`);
    }
    this.borrowScratch();
    const view = new DataView(this.memory.buffer);
    view.setUint32(this.scratchPtr, this.scratchPtr + ASYNCIFY_HEADER_BYTES, true);
    view.setUint32(this.scratchPtr + 4, this.scratchPtr + this.scratchSaved!.length, true);
    this.exports.asyncify_start_unwind(this.scratchPtr);
    this.unwinding = true;
    return 0;
  }

  private endUnwind(): void {
    this.exports.asyncify_stop_unwind();
    const view = new DataView(this.memory.buffer);
    const end = view.getUint32(this.scratchPtr, true);
    this.stack = new Uint8Array(this.memory.buffer, this.scratchPtr + ASYNCIFY_HEADER_BYTES, end - this.scratchPtr - ASYNCIFY_HEADER_BYTES).slice();
    this.restoreScratch();
  }

  private beginRewind(): void {
    const stack = this.stack!;
    this.borrowScratch();
    if (stack.length + ASYNCIFY_HEADER_BYTES > this.scratchSaved!.length) {
      throw new MachineError('E_LIMIT', `Asyncify stack (${stack.length} bytes) exceeds asyncifyStackBytes`);
    }
    const mem = new Uint8Array(this.memory.buffer);
    const view = new DataView(this.memory.buffer);
    mem.set(stack, this.scratchPtr + ASYNCIFY_HEADER_BYTES);
    // Rewinding pops frames from the end of the data, so `current` starts where the unwind stopped.
    view.setUint32(this.scratchPtr, this.scratchPtr + ASYNCIFY_HEADER_BYTES + stack.length, true);
    view.setUint32(this.scratchPtr + 4, this.scratchPtr + this.scratchSaved!.length, true);
    this.exports.asyncify_start_rewind(this.scratchPtr);
    this.rewinding = true;
    if (this.inputLane !== undefined) this.inputLane.enabled = false;
  }

  /**
   * Saves the guest bytes of the scratch region (top of memory) so Asyncify can use it. The copy goes into
   * one buffer kept for the machine's life: a guest that pauses often (every sleep, every slice of a protected
   * run, every wait for the log) would otherwise hand the collector the region's size at every pause.
   */
  private borrowScratch(): void {
    const total = this.memory.buffer.byteLength;
    const size = Math.min(this.options.asyncifyStackBytes ?? ASYNCIFY_STACK_BYTES_DEFAULT, total) & ~7;
    this.scratchPtr = total - size;
    if (this.scratchKeep === undefined || this.scratchKeep.length !== size) this.scratchKeep = new Uint8Array(size);
    this.scratchKeep.set(new Uint8Array(this.memory.buffer, this.scratchPtr, size));
    this.scratchSaved = this.scratchKeep;
  }

  private restoreScratch(): void {
    new Uint8Array(this.memory.buffer).set(this.scratchSaved!, this.scratchPtr);
    this.scratchSaved = undefined;
  }

  // ---- state -----------------------------------------------------------------------------------------

  private readGlobals(): Array<number | bigint> {
    const out: Array<number | bigint> = [];
    for (let i = 0; i < this.module.globalCount; i++) {
      out.push((this.exports[GLOBAL_EXPORT_PREFIX + i] as WebAssembly.Global).value);
    }
    return out;
  }

  private load(state: MachineState): void {
    const have = this.memory.buffer.byteLength;
    if (state.memory.length % WASM_PAGE_BYTES !== 0) throw new MachineError('E_SNAPSHOT', 'snapshot memory is not a whole number of wasm pages');
    if (state.memory.length < have) throw new MachineError('E_SNAPSHOT', `snapshot memory (${state.memory.length} bytes) is smaller than the module's initial memory (${have})`);
    if (state.memory.length > have) this.memory.grow((state.memory.length - have) / WASM_PAGE_BYTES);
    new Uint8Array(this.memory.buffer).set(state.memory);
    if (state.globals.length !== this.module.globalCount) throw new MachineError('E_SNAPSHOT', `snapshot has ${state.globals.length} globals, module has ${this.module.globalCount}`);
    state.globals.forEach((v, i) => {
      const g = this.exports[GLOBAL_EXPORT_PREFIX + i] as WebAssembly.Global;
      // Immutable globals cannot be assigned, and always hold their initial value anyway.
      if (g.value !== v) g.value = v;
    });
    this.index = state.callIndex;
    if (this.inputLane !== undefined) this.inputLane.cur = this.index;
    this.exitCode = state.exitCode;
    this.stack = state.asyncifyStack?.slice();
    this.phase = state.status === 'ready' ? Phase.Ready : state.status === 'exited' ? Phase.Exited : Phase.Paused;
  }
}

/** The shape of the machine's reused call objects: every field of HostCallInfo, InputCall and OutputCall, writable. */
interface CallObject {
  index: number;
  name: string;
  request: Uint8Array;
  live: () => Uint8Array;
  channel: number;
  data: Uint8Array;
}

const EMPTY_BYTES = new Uint8Array(0);
const notImported = (): number => {
  throw new Error('the input lane called an import the guest does not have');
};
const noLive = (): Uint8Array => EMPTY_BYTES;

const scratch = new Uint8Array(8);
const scratchView = new DataView(scratch.buffer);

/** The 8 little-endian bytes as a u64, without a DataView over `bytes` (which may be a small heap array). */
function u64At(bytes: Uint8Array): bigint {
  for (let i = 0; i < 8; i++) scratch[i] = bytes[i];
  return scratchView.getBigUint64(0, true);
}

function hex(v: bigint): string {
  return v.toString(16).padStart(16, '0');
}

/** Maps an exception thrown out of the guest to a trap; undefined when it is not a guest trap. */
function toTrap(e: unknown, index: number, memoryFull: boolean): GuestTrap | undefined {
  if (e instanceof WebAssembly.RuntimeError) {
    const msg = e.message;
    if (memoryFull) return new GuestTrap(`guest ran out of memory: ${msg}`, 'oom', index);
    return new GuestTrap(`guest trapped: ${msg}`, 'trap', index);
  }
  if (e instanceof RangeError && /call stack/i.test(e.message)) return new GuestTrap('guest exhausted the call stack', 'stack', index);
  if (e instanceof RangeError && /memory/i.test(e.message)) return new GuestTrap(`guest ran out of memory: ${e.message}`, 'oom', index);
  return undefined;
}

