/**
 * Loads a guest module: validates it, checks its imports against what the WASI host provides, and
 * instruments it with Binaryen's Asyncify so the machine can stop the guest at a host call, capture its
 * call stack, and later rewind (in this instance or a fresh one in another process).
 *
 * Instrumentation is done once per (module, unwind set) and cached on disk, because Binaryen's pass plus
 * optimisation takes far longer than instantiating the result.
 */
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { xxh64 } from '@node-rs/xxhash';
import { MachineError } from '../machine/errors.ts';
import { binaryenJob, jobError } from './binaryen-process.ts';
import { WASI_CALLS, IO_CALLS, WASI_SIGNATURES } from './calls.ts';
import { describeType, functionImports } from './import-types.ts';

export const WASI_MODULE = 'wasi_snapshot_preview1';

/**
 * Which imports may unwind (pause points):
 *  - 'all':  every WASI import. A snapshot can be taken at ANY host call. The default, because the protocol
 *            pauses at arbitrary calls (resync stun, checkpoints at call K).
 *  - 'io':   only calls that can be input or output (fd_read/write, clocks, random, poll, yield). Functions
 *            that reach only pure calls stay uninstrumented; pauses are then possible only at I/O calls.
 *  - 'none': no instrumentation; the guest can be snapshotted only before it starts or after it exits.
 *  - a list of import names.
 */
export type UnwindMode = 'all' | 'io' | 'none' | readonly string[];

/** Exported name prefix for guest globals, so snapshots can read and restore every global. */
export const GLOBAL_EXPORT_PREFIX = '__twinstep_global_';

export type GlobalType = 'i32' | 'i64' | 'f32' | 'f64';

export interface LoadedModule {
  /** xxh64 of the ORIGINAL (uninstrumented) bytes: identifies the guest in traces and snapshots. */
  readonly hash: bigint;
  readonly bytes: Uint8Array;
  /** The instrumented, compiled module. */
  readonly compiled: WebAssembly.Module;
  /** Imports that can unwind under the chosen mode. */
  readonly unwindable: ReadonlySet<string>;
  readonly unwind: UnwindMode;
  /** Number of guest globals exported as GLOBAL_EXPORT_PREFIX + index. */
  readonly globalCount: number;
  /** Value type of each guest global, in module order (snapshots store raw bits per type). */
  readonly globalTypes: readonly GlobalType[];
  /** Declared maximum memory in 64 KiB pages (65536 when absent: the wasm32 limit). */
  readonly memoryMaxPages: number;
}

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

function cacheDir(): string {
  return process.env.TWINSTEP_CACHE ?? join(homedir(), '.cache', 'twinstep');
}

function unwindKey(mode: UnwindMode): string {
  return typeof mode === 'string' ? mode : 'list-' + xxh64(Buffer.from([...mode].sort().join(','))).toString(16);
}

/** Import names that unwind under `mode`, restricted to those the module actually imports. */
/** An unwind mode as traces, snapshots and the command line write it: all, io, none, or call names with commas. */
export function parseUnwindMode(s: string): UnwindMode {
  return s === 'all' || s === 'io' || s === 'none' ? s : s.split(',').filter(Boolean);
}

/** The written form of an unwind mode (parseUnwindMode reads it back). */
export function unwindModeString(mode: UnwindMode): string {
  return typeof mode === 'string' ? mode : mode.join(',');
}

export function unwindSet(mode: UnwindMode, imported: readonly string[]): Set<string> {
  if (mode === 'none') return new Set();
  if (mode === 'all') return new Set(imported);
  if (mode === 'io') return new Set(imported.filter((n) => IO_CALLS.has(n)));
  for (const n of mode) {
    if (!WASI_CALLS.has(n)) throw new MachineError('E_CONFIG', `unwind list names unknown WASI call '${n}'`);
  }
  return new Set(imported.filter((n) => mode.includes(n)));
}

/**
 * Validates a guest module and lists its WASI imports; throws MachineError with a user-facing message. It compiles
 * the module asynchronously (V8 compiles on its own threads): a secondary loads the guest it is sent while its
 * event loop keeps the logging channel served, and a compile of a large guest on the event loop was silence the
 * primary could take for a lost secondary.
 */
export async function checkModule(bytes: Uint8Array): Promise<{ imports: string[] }> {
  if (bytes.length < 8 || WASM_MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new MachineError('E_NOT_WASM', `not a WebAssembly module (${bytes.length < 8 ? 'file too short' : 'bad magic bytes'})`);
  }
  let mod: WebAssembly.Module;
  try {
    mod = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (e) {
    throw new MachineError('E_INVALID_WASM', `invalid WebAssembly module: ${(e as Error).message.replace(/^WebAssembly\.(Module|compile)\(\): /, '')}`);
  }
  const imports: string[] = [];
  for (const imp of WebAssembly.Module.imports(mod)) {
    if (imp.module !== WASI_MODULE || imp.kind !== 'function' || !WASI_CALLS.has(imp.name)) {
      throw new MachineError('E_UNSUPPORTED_IMPORT', `unsupported import ${imp.module}::${imp.name} (${imp.kind}); twinstep provides the functions of ${WASI_MODULE}`);
    }
    imports.push(imp.name);
  }
  for (const imp of functionImports(bytes) ?? []) {
    const want = WASI_SIGNATURES[imp.name];
    if (imp.module === WASI_MODULE && want !== undefined && imp.type !== want) {
      throw new MachineError('E_IMPORT_TYPE', `the module imports ${WASI_MODULE}::${imp.name} as ${describeType(imp.type)}; ${WASI_MODULE} declares it ${describeType(want)}`);
    }
  }
  const exports = WebAssembly.Module.exports(mod);
  if (!exports.some((e) => e.name === '_start' && e.kind === 'function')) {
    throw new MachineError('E_NO_START', 'module exports no _start function: twinstep runs WASI command modules');
  }
  if (!exports.some((e) => e.name === 'memory' && e.kind === 'memory')) {
    throw new MachineError('E_NO_MEMORY', 'module exports no memory named "memory"');
  }
  return { imports };
}

/**
 * Compiled modules of this process by cache key: one WebAssembly.Module serves every instance, so code V8 has
 * optimised (tiered up) for one run serves the next (restores, resyncs, repeated runs) instead of starting
 * again from baseline code.
 */
const compiledModules = new Map<string, Promise<LoadedModule>>();

/** Loads, checks and instruments a module (using the in-process and on-disk caches when possible). */
export async function loadModule(bytes: Uint8Array, unwind: UnwindMode = 'all'): Promise<LoadedModule> {
  // Validation compiles the module; it runs once, in loadUncached (a failed load is not cached).
  const key = `${xxh64(bytes).toString(16).padStart(16, '0')}-${unwindKey(unwind)}-v2`;
  let loaded = compiledModules.get(key);
  if (!loaded) {
    loaded = loadUncached(bytes, unwind, key);
    compiledModules.set(key, loaded);
    loaded.catch(() => compiledModules.delete(key));
  }
  return loaded;
}

async function loadUncached(bytes: Uint8Array, unwind: UnwindMode, key: string): Promise<LoadedModule> {
  const { imports } = await checkModule(bytes);
  const hash = xxh64(bytes);
  const unwindable = unwindSet(unwind, imports);
  const cached = join(cacheDir(), `${key}.wasm`);
  const metaFile = join(cacheDir(), `${key}.json`);
  let instrumented: Uint8Array | undefined;
  let meta: { globalCount: number; globalTypes: GlobalType[]; memoryMaxPages: number } | undefined;
  try {
    instrumented = readFileSync(cached);
    meta = JSON.parse(readFileSync(metaFile, 'utf8'));
  } catch {
    instrumented = undefined;
  }
  if (!instrumented || !meta) {
    const out = await instrument(bytes, unwindable);
    instrumented = out.bytes;
    meta = { globalCount: out.globalCount, globalTypes: out.globalTypes, memoryMaxPages: out.memoryMaxPages };
    try {
      mkdirSync(cacheDir(), { recursive: true });
      const tmp = `${cached}.${process.pid}.tmp`;
      writeFileSync(tmp, instrumented);
      renameSync(tmp, cached);
      writeFileSync(`${metaFile}.${process.pid}.tmp`, JSON.stringify(meta));
      renameSync(`${metaFile}.${process.pid}.tmp`, metaFile);
    } catch {
      // A read-only or full cache directory only costs speed, never correctness.
    }
  }
  return {
    hash,
    bytes,
    compiled: await WebAssembly.compile(instrumented as Uint8Array<ArrayBuffer>),
    unwindable,
    unwind,
    globalCount: meta.globalCount,
    globalTypes: meta.globalTypes,
    memoryMaxPages: meta.memoryMaxPages,
  };
}

/**
 * Instruments a module in the Binaryen child process (binaryen-process.ts, instrument-child.mjs): Asyncify for
 * the unwindable imports and an export per global. A module twinstep cannot run is a MachineError with the
 * child's code; a child that fails otherwise is E_INSTRUMENT.
 */
async function instrument(bytes: Uint8Array, unwindable: ReadonlySet<string>): Promise<{ bytes: Uint8Array; globalCount: number; globalTypes: GlobalType[]; memoryMaxPages: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'twinstep-instrument-'));
  try {
    const job = { op: 'instrument' as const, in: join(dir, 'in.wasm'), out: join(dir, 'out.wasm'), unwindable: [...unwindable], wasiModule: WASI_MODULE, globalPrefix: GLOBAL_EXPORT_PREFIX };
    writeFileSync(job.in, bytes);
    const r = await binaryenJob(job);
    if (r.error) throw jobError(r.error);
    return { bytes: readFileSync(job.out), globalCount: r.globalCount as number, globalTypes: r.globalTypes as GlobalType[], memoryMaxPages: r.memoryMaxPages as number };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
