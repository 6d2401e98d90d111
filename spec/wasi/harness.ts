/**
 * Runs a WASI module directly on a WasiHost, without the machine: a recording context (input → live(),
 * output → collected), fixed file time, and fake or live devices. Used by the unit tests and by
 * scripts/conformance.ts.
 */
import { ExitSignal, PauseSignal, type Devices, type Preopen, type WasiConfig, type WasiContext } from '../../engine/wasi/context.ts';
import { WasiHost } from '../../engine/wasi/host.ts';
import type { WasiStateData } from '../../engine/wasi/state.ts';
import { ALL_RIGHTS, DIR_RIGHTS } from '../../engine/wasi/abi.ts';

export interface ContextCall {
  readonly kind: 'input' | 'output';
  readonly name: string;
  /** Request bytes (input) or data (output). */
  readonly bytes: Uint8Array;
  /** Result bytes (input only). */
  readonly result?: Uint8Array;
  /** Output channel (output only). */
  readonly channel?: number;
}

/** A context that records every input/output call; `pauseNext` makes the next input/output throw PauseSignal. */
export class RecordingContext implements WasiContext {
  readonly calls: ContextCall[] = [];
  readonly stdout: number[] = [];
  readonly stderr: number[] = [];
  memoryRef: WebAssembly.Memory | undefined;
  pauseNext = false;
  pauses = 0;

  constructor(public fsTime: bigint = 1_000_000_000n) {}

  memory(): WebAssembly.Memory {
    if (!this.memoryRef) throw new Error('harness: memory not attached yet');
    return this.memoryRef;
  }

  private maybePause(): void {
    if (this.pauseNext) {
      this.pauseNext = false;
      this.pauses++;
      throw new PauseSignal();
    }
  }

  input(name: string, request: Uint8Array, live: () => Uint8Array): Uint8Array {
    this.maybePause();
    const result = live();
    this.calls.push({ kind: 'input', name, bytes: request.slice(), result: result.slice() });
    return result;
  }

  output(name: string, channel: number, data: Uint8Array): void {
    this.maybePause();
    this.calls.push({ kind: 'output', name, channel, bytes: data.slice() });
    if (channel === 1) this.stdout.push(...data);
    else if (channel === 2) this.stderr.push(...data);
  }

  fsTimeNs(): bigint {
    return this.fsTime;
  }
}

export interface HarnessOptions {
  readonly args?: readonly string[];
  readonly env?: readonly string[];
  readonly preopens?: readonly Preopen[];
  readonly devices: Devices;
  readonly ctx?: RecordingContext;
  /** Continue from an exported state instead of booting. */
  readonly state?: WasiStateData;
  /** Export to call instead of _start (for unit-test modules that return). */
  readonly entry?: string;
}

export interface HarnessResult {
  /** Exit code from proc_exit, 0 when _start returned. */
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ctx: RecordingContext;
  readonly host: WasiHost;
  readonly instance: WebAssembly.Instance;
  /** What the entry returned, when it returned normally. */
  readonly returned?: unknown;
  /** The guest trapped (exitCode is then 134, like a native abort). */
  readonly trap?: WebAssembly.RuntimeError;
}

export function harnessConfig(opts: Pick<HarnessOptions, 'args' | 'env' | 'preopens'>): WasiConfig {
  return { args: opts.args ?? ['guest'], env: opts.env ?? [], preopens: opts.preopens ?? [], bootTimeNs: 500n };
}

/** Instantiates `bytes` against a fresh (or restored) host and runs its entry to completion. */
export async function runWasi(bytes: Uint8Array, opts: HarnessOptions): Promise<HarnessResult> {
  const ctx = opts.ctx ?? new RecordingContext();
  const config = harnessConfig(opts);
  const host = opts.state ? WasiHost.fromState(opts.state, config, ctx, opts.devices) : new WasiHost(config, ctx, opts.devices);
  const { instance } = await WebAssembly.instantiate(bytes as Uint8Array<ArrayBuffer>, { wasi_snapshot_preview1: host.imports() });
  const mem = instance.exports.memory;
  if (!(mem instanceof WebAssembly.Memory)) throw new Error('harness: module exports no memory');
  ctx.memoryRef = mem;
  const entry = instance.exports[opts.entry ?? '_start'];
  if (typeof entry !== 'function') throw new Error(`harness: module exports no function ${opts.entry ?? '_start'}`);
  let exitCode = 0;
  let returned: unknown;
  let trap: WebAssembly.RuntimeError | undefined;
  try {
    returned = (entry as () => unknown)();
  } catch (e) {
    if (e instanceof ExitSignal) exitCode = e.code;
    else if (e instanceof WebAssembly.RuntimeError) {
      trap = e;
      exitCode = 134;
    } else throw e;
  }
  const dec = new TextDecoder();
  return {
    exitCode,
    stdout: dec.decode(Uint8Array.from(ctx.stdout)),
    stderr: dec.decode(Uint8Array.from(ctx.stderr)),
    ctx,
    host,
    instance,
    returned,
    trap,
  };
}

/** wasi_snapshot_preview1 signatures: parameter types, and whether the function returns an errno. */
export const SIGNATURES: Record<string, { params: Array<'i32' | 'i64'>; result: boolean }> = {
  args_get: { params: ['i32', 'i32'], result: true },
  args_sizes_get: { params: ['i32', 'i32'], result: true },
  environ_get: { params: ['i32', 'i32'], result: true },
  environ_sizes_get: { params: ['i32', 'i32'], result: true },
  clock_res_get: { params: ['i32', 'i32'], result: true },
  clock_time_get: { params: ['i32', 'i64', 'i32'], result: true },
  random_get: { params: ['i32', 'i32'], result: true },
  fd_advise: { params: ['i32', 'i64', 'i64', 'i32'], result: true },
  fd_allocate: { params: ['i32', 'i64', 'i64'], result: true },
  fd_close: { params: ['i32'], result: true },
  fd_datasync: { params: ['i32'], result: true },
  fd_fdstat_get: { params: ['i32', 'i32'], result: true },
  fd_fdstat_set_flags: { params: ['i32', 'i32'], result: true },
  fd_fdstat_set_rights: { params: ['i32', 'i64', 'i64'], result: true },
  fd_filestat_get: { params: ['i32', 'i32'], result: true },
  fd_filestat_set_size: { params: ['i32', 'i64'], result: true },
  fd_filestat_set_times: { params: ['i32', 'i64', 'i64', 'i32'], result: true },
  fd_pread: { params: ['i32', 'i32', 'i32', 'i64', 'i32'], result: true },
  fd_prestat_get: { params: ['i32', 'i32'], result: true },
  fd_prestat_dir_name: { params: ['i32', 'i32', 'i32'], result: true },
  fd_pwrite: { params: ['i32', 'i32', 'i32', 'i64', 'i32'], result: true },
  fd_read: { params: ['i32', 'i32', 'i32', 'i32'], result: true },
  fd_readdir: { params: ['i32', 'i32', 'i32', 'i64', 'i32'], result: true },
  fd_renumber: { params: ['i32', 'i32'], result: true },
  fd_seek: { params: ['i32', 'i64', 'i32', 'i32'], result: true },
  fd_sync: { params: ['i32'], result: true },
  fd_tell: { params: ['i32', 'i32'], result: true },
  fd_write: { params: ['i32', 'i32', 'i32', 'i32'], result: true },
  path_create_directory: { params: ['i32', 'i32', 'i32'], result: true },
  path_filestat_get: { params: ['i32', 'i32', 'i32', 'i32', 'i32'], result: true },
  path_filestat_set_times: { params: ['i32', 'i32', 'i32', 'i32', 'i64', 'i64', 'i32'], result: true },
  path_link: { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], result: true },
  path_open: { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i64', 'i64', 'i32', 'i32'], result: true },
  path_readlink: { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], result: true },
  path_remove_directory: { params: ['i32', 'i32', 'i32'], result: true },
  path_rename: { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], result: true },
  path_symlink: { params: ['i32', 'i32', 'i32', 'i32', 'i32'], result: true },
  path_unlink_file: { params: ['i32', 'i32', 'i32'], result: true },
  poll_oneoff: { params: ['i32', 'i32', 'i32', 'i32'], result: true },
  proc_exit: { params: ['i32'], result: false },
  proc_raise: { params: ['i32'], result: true },
  sched_yield: { params: [], result: true },
  sock_accept: { params: ['i32', 'i32', 'i32'], result: true },
  sock_recv: { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], result: true },
  sock_send: { params: ['i32', 'i32', 'i32', 'i32', 'i32'], result: true },
  sock_shutdown: { params: ['i32', 'i32'], result: true },
};

/** WAT of a module that imports every preview1 function and re-exports it, plus 4 pages of memory. */
export function probeWat(): string {
  const lines = Object.entries(SIGNATURES).map(([name, s]) => {
    const params = s.params.length ? ` (param ${s.params.join(' ')})` : '';
    return `  (import "wasi_snapshot_preview1" "${name}" (func $${name}${params}${s.result ? ' (result i32)' : ''}))\n  (export "${name}" (func $${name}))`;
  });
  return `(module\n${lines.join('\n')}\n  (memory (export "memory") 4)\n  (func (export "_start"))\n)`;
}

/**
 * Drives a host through real wasm calls: every import is re-exported by a tiny module, so arguments cross
 * the same JS/wasm boundary a guest's would (signed i32, BigInt i64). Scratch memory starts at 1024.
 */
export class Probe {
  private next = 1024;
  constructor(
    readonly host: WasiHost,
    readonly ctx: RecordingContext,
    readonly instance: WebAssembly.Instance,
  ) {}

  static async create(bytes: Uint8Array, opts: HarnessOptions): Promise<Probe> {
    const ctx = opts.ctx ?? new RecordingContext();
    const config = harnessConfig(opts);
    const host = opts.state ? WasiHost.fromState(opts.state, config, ctx, opts.devices) : new WasiHost(config, ctx, opts.devices);
    const { instance } = await WebAssembly.instantiate(bytes as Uint8Array<ArrayBuffer>, { wasi_snapshot_preview1: host.imports() });
    ctx.memoryRef = instance.exports.memory as WebAssembly.Memory;
    return new Probe(host, ctx, instance);
  }

  get memory(): WebAssembly.Memory {
    return this.instance.exports.memory as WebAssembly.Memory;
  }
  get bytes(): Uint8Array {
    return new Uint8Array(this.memory.buffer);
  }
  get view(): DataView {
    return new DataView(this.memory.buffer);
  }

  /** Calls a preview1 function through wasm; returns its errno. */
  call(name: string, ...args: Array<number | bigint>): number {
    const f = this.instance.exports[name] as (...a: Array<number | bigint>) => number;
    return f(...args);
  }

  /** Reserves `n` zeroed bytes of scratch memory (8-aligned). */
  alloc(n: number): number {
    const p = this.next;
    this.next += (n + 7) & ~7;
    this.bytes.fill(0, p, p + n);
    return p;
  }

  /** Places a string; returns [ptr, byteLength]. */
  str(s: string): [number, number] {
    const b = new TextEncoder().encode(s);
    const p = this.alloc(b.length);
    this.bytes.set(b, p);
    return [p, b.length];
  }

  /** Places bytes and a one-element iovec pointing at them; returns the iovec pointer. */
  iov(data: Uint8Array | number): number {
    const len = typeof data === 'number' ? data : data.length;
    const buf = this.alloc(len);
    if (typeof data !== 'number') this.bytes.set(data, buf);
    const v = this.alloc(8);
    this.view.setUint32(v, buf, true);
    this.view.setUint32(v + 4, len, true);
    return v;
  }

  u32(p: number): number {
    return this.view.getUint32(p, true);
  }
  u64(p: number): bigint {
    return this.view.getBigUint64(p, true);
  }

  // Conveniences over the common calls (errno, value).
  open(dirFd: number, path: string, opts: { oflags?: number; base?: bigint; inheriting?: bigint; fdflags?: number; follow?: boolean } = {}): [number, number] {
    const [p, l] = this.str(path);
    const out = this.alloc(4);
    const e = this.call('path_open', dirFd, opts.follow ? 1 : 0, p, l, opts.oflags ?? 0, opts.base ?? (1n << 30n) - 1n, opts.inheriting ?? (1n << 30n) - 1n, opts.fdflags ?? 0, out);
    return [e, this.u32(out)];
  }

  /** Opens a directory (O_DIRECTORY, directory rights only: asking a directory for FD_WRITE is EISDIR). */
  dir(dirFd: number, path: string): [number, number] {
    return this.open(dirFd, path, { oflags: 2, base: DIR_RIGHTS, inheriting: ALL_RIGHTS });
  }

  write(fd: number, data: Uint8Array | string): [number, number] {
    const b = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const out = this.alloc(4);
    const e = this.call('fd_write', fd, this.iov(b), 1, out);
    return [e, this.u32(out)];
  }

  read(fd: number, max: number): [number, Uint8Array] {
    const v = this.iov(max);
    const out = this.alloc(4);
    const e = this.call('fd_read', fd, v, 1, out);
    const buf = this.u32(v);
    return [e, this.bytes.slice(buf, buf + this.u32(out))];
  }

  path(name: string, fd: number, path: string): number {
    const [p, l] = this.str(path);
    return this.call(name, fd, p, l);
  }

  /** Names listed by fd_readdir (including "." and ".."). */
  readdir(fd: number): string[] {
    const buf = this.alloc(4096);
    const used = this.alloc(4);
    const e = this.call('fd_readdir', fd, buf, 4096, 0n, used);
    if (e !== 0) throw new Error(`fd_readdir errno ${e}`);
    const names: string[] = [];
    const end = buf + this.u32(used);
    for (let at = buf; at + 24 <= end; ) {
      const len = this.u32(at + 16);
      names.push(new TextDecoder().decode(this.bytes.slice(at + 24, at + 24 + len)));
      at += 24 + len;
    }
    return names;
  }

  /** One fd_readdir call from `cookie` with a buffer of `bufLen` bytes: the whole entries in it, each with its d_next. */
  readdirFrom(fd: number, cookie: bigint, bufLen: number): Array<{ name: string; next: bigint }> {
    const buf = this.alloc(bufLen);
    const used = this.alloc(4);
    const e = this.call('fd_readdir', fd, buf, bufLen, cookie, used);
    if (e !== 0) throw new Error(`fd_readdir errno ${e}`);
    const out: Array<{ name: string; next: bigint }> = [];
    const end = buf + this.u32(used);
    for (let at = buf; at + 24 <= end; ) {
      const len = this.u32(at + 16);
      if (at + 24 + len > end) break; // cut short: read again from the last whole entry's d_next
      out.push({ name: new TextDecoder().decode(this.bytes.slice(at + 24, at + 24 + len)), next: this.u64(at) });
      at += 24 + len;
    }
    return out;
  }

  filestat(fd: number): { errno: number; ino: bigint; filetype: number; nlink: bigint; size: bigint; mtim: bigint } {
    const p = this.alloc(64);
    const errno = this.call('fd_filestat_get', fd, p);
    return { errno, ino: this.u64(p + 8), filetype: this.bytes[p + 16], nlink: this.u64(p + 24), size: this.u64(p + 32), mtim: this.u64(p + 48) };
  }
}
