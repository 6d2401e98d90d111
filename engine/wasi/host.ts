/**
 * The wasi_snapshot_preview1 host: every import, over the virtual file system and the descriptor table.
 *
 * Each call is pure, input or output (see context.ts). Input and output calls validate everything first
 * (pure errors return unlogged), then call ctx.input/ctx.output, and only then touch memory or state,
 * because those may throw PauseSignal and the call is re-run from the start on resume.
 * Guest errors are thrown as WasiError anywhere below and returned as errno at the import boundary;
 * anything else (PauseSignal, ExitSignal, a malformed log) propagates to the machine.
 */
import { ExitSignal, type Devices, type WasiConfig, type WasiContext } from './context.ts';
import { EXIT_CHANNEL } from '../machine/machine.ts';
import { FdTarget, InodeKind, type WasiStateData } from './state.ts';
import {
  Clock, DIR_RIGHTS, FDFLAGS_MASK, FILE_RIGHTS, FSTFLAGS_MASK, FdFlag, Filetype, FstFlag, LOOKUP_SYMLINK_FOLLOW,
  OFLAGS_MASK, OFlag, PREOPENTYPE_DIR, Right, SIZE, STDIN_RIGHTS, STDOUT_RIGHTS, VIRTUAL_DEV, Whence, EventType,
} from './abi.ts';
import { Errno, WasiError, fail } from './errno.ts';
import { GuestMemory, totalLength, type Iovec } from './memory.ts';
import { FdTable, type Descriptor } from './fdtable.ts';
import { VirtualFs, type FsLimits } from './fs.ts';
import { loadDisk, type LoadLimits } from './image.ts';
import { DirNode, FileNode, type Node } from './inode.ts';
import { decodeSubscriptions, encodeEvents, pollLive, type FdReadiness, type FdSub } from './poll.ts';
import { exportState, importState } from './host-state.ts';
import { digestInput, digestState, type DigestInput, type WasiDigest } from './digest.ts';

export type WasiImports = Record<string, (...args: any[]) => number>;

export interface HostOptions {
  readonly fsLimits?: FsLimits;
  readonly loadLimits?: LoadLimits;
}

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);
const DEFAULT_CLOCK_RESOLUTION_NS = 1000n;

/** Whether typed arrays are little-endian here (WASI's byte order). */
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Scratch for little-endian encodings. Results are always copied out into a fresh array the receiver owns
 * (handlers may keep them). Small encodings are written byte by byte into a fresh array rather than through
 * a DataView over it: asking a small typed array for its `.buffer` makes V8 materialise a separate
 * ArrayBuffer, which costs several times more than the whole encoding.
 */
const scratch = new Uint8Array(16);
const scratchView = new DataView(scratch.buffer);

/** The first `n` scratch bytes, in a fresh array. */
function scratchCopy(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = scratch[i];
  return b;
}

function u32le(v: number): Uint8Array {
  v >>>= 0;
  const b = new Uint8Array(4);
  b[0] = v;
  b[1] = v >>> 8;
  b[2] = v >>> 16;
  b[3] = v >>> 24;
  return b;
}

/** clock_time_get's request: clock id (u32) and precision (u64), little-endian. */
function clockRequest(id: number, precision: bigint): Uint8Array {
  scratchView.setUint32(0, id, true);
  scratchView.setBigUint64(4, precision, true);
  return scratchCopy(12);
}

/** A logged result that does not fit its request: replaying it would corrupt the guest, so stop. */
function malformed(name: string, detail: string): never {
  throw new Error(`malformed ${name} result from the context: ${detail}`);
}

function filetypeOf(node: Node): Filetype {
  switch (node.kind) {
    case InodeKind.File:
      return Filetype.REGULAR_FILE;
    case InodeKind.Directory:
      return Filetype.DIRECTORY;
    default:
      return Filetype.SYMBOLIC_LINK;
  }
}

/** Builds the boot descriptor table: stdio, then one descriptor per preopen (fd 3, 4, ...). */
function bootTable(fs: VirtualFs): FdTable {
  const t = new FdTable();
  t.set(0, { target: FdTarget.Stdin, rightsBase: STDIN_RIGHTS, rightsInheriting: 0n, flags: 0, offset: 0n });
  t.set(1, { target: FdTarget.Stdout, rightsBase: STDOUT_RIGHTS, rightsInheriting: 0n, flags: 0, offset: 0n });
  t.set(2, { target: FdTarget.Stderr, rightsBase: STDOUT_RIGHTS, rightsInheriting: 0n, flags: 0, offset: 0n });
  fs.mounts.forEach((m, i) => {
    fs.retain(m.root);
    t.set(3 + i, {
      target: FdTarget.Inode,
      node: m.root,
      preopen: m.guest,
      rightsBase: DIR_RIGHTS,
      rightsInheriting: DIR_RIGHTS | FILE_RIGHTS,
      flags: 0,
      offset: 0n,
    });
  });
  return t;
}

/**
 * A host function as implemented: i32 arguments already unsigned, returns an errno or nothing (SUCCESS), throws
 * WasiError for a guest error. `imports()` turns each into the import a guest calls (see importOf); an embedder
 * that wraps `hostFunctions()` itself must do the same: `unsigned` on every argument, `errnoOf` on the result,
 * `WasiError` caught as its errno.
 */
export type HostFunction = (...args: any[]) => void | number;

/** wasm i32 arrives as a signed JS number; every preview1 i32 is unsigned (i64 arrives as a BigInt, kept). */
export function unsigned(a: unknown): any {
  return typeof a === 'number' ? a >>> 0 : a;
}

/** A host function's result as the import returns it: errno SUCCESS for functions that return nothing. */
export function errnoOf(r: void | number): number {
  return typeof r === 'number' ? r : Errno.SUCCESS;
}

/** A WasiError thrown below the import boundary becomes the call's errno; anything else propagates. */
export function errnoOfError(e: unknown): number {
  if (e instanceof WasiError) return e.errno;
  throw e;
}

/** The import a guest calls for a host function (the machine builds its own, see WasiMachine.wrap). */
function importOf(f: HostFunction): (...args: any[]) => number {
  return (...args: any[]): number => {
    for (let i = 0; i < args.length; i++) args[i] = unsigned(args[i]);
    try {
      return errnoOf(f(...args));
    } catch (e) {
      return errnoOfError(e);
    }
  };
}

export class WasiHost {
  readonly fs: VirtualFs;
  readonly fds: FdTable;
  private readonly args: Uint8Array[];
  private readonly env: Uint8Array[];
  private memCache: GuestMemory | undefined;
  private memCacheOf: WebAssembly.Memory | undefined;
  /** `live` of clock_time_get per clock id (checked <= THREAD_CPUTIME first): no closure per call. */
  private readonly clockLive: ReadonlyArray<() => Uint8Array>;
  /**
   * The last request of clock_time_get per clock id (with its precision) and of random_get (with its length):
   * a guest asks the same again and again, so the same array is handed on until the request changes. A request
   * array is never written once handed out, so whoever keeps one keeps the right bytes (and may compare by
   * identity: the same array means the same bytes).
   */
  private readonly clockRequests: Array<Uint8Array | undefined> = [undefined, undefined, undefined, undefined];
  private readonly clockPrecisions: bigint[] = [-1n, -1n, -1n, -1n];
  private randomRequest: Uint8Array = u32le(0);
  private randomRequestLen = 0;

  /**
   * A host at boot. Without `fs`, the preopens are loaded from the host directories now (the only time the
   * host file system is read); with `fs` and `fds`, the host continues from that state (see restore()).
   */
  constructor(
    readonly config: WasiConfig,
    readonly ctx: WasiContext,
    readonly devices: Devices,
    fs?: VirtualFs,
    fds?: FdTable,
    options: HostOptions = {},
  ) {
    this.fs =
      fs ??
      loadDisk(config.preopens, {
        timeNs: config.bootTimeNs ?? 0n,
        now: () => ctx.fsTimeNs(),
        fsLimits: options.fsLimits,
        loadLimits: options.loadLimits,
      });
    this.fds = fds ?? bootTable(this.fs);
    this.args = config.args.map((a) => encoder.encode(a + '\0'));
    this.env = config.env.map((e) => encoder.encode(e + '\0'));
    // The live clock result goes into one reused array (see HostCallHandler: live()'s result lasts until the
    // next host call): the most frequent host call of many guests then allocates nothing.
    // On a little-endian host the value is stored through a BigUint64Array: DataView.setBigUint64 is a builtin call
    // of its own (about 12 ns, a quarter of a clock read), the typed-array store is compiled inline.
    const result = new Uint8Array(8);
    const view = new DataView(result.buffer);
    const word = new BigUint64Array(result.buffer);
    this.clockLive = littleEndian
      ? [0, 1, 2, 3].map((id) => () => {
          word[0] = this.devices.clockNs(id);
          return result;
        })
      : [0, 1, 2, 3].map((id) => () => {
          view.setBigUint64(0, this.devices.clockNs(id), true);
          return result;
        });
  }

  /** A host that continues exactly where the exporting host stood. */
  static fromState(state: WasiStateData, config: WasiConfig, ctx: WasiContext, devices: Devices, options: HostOptions = {}): WasiHost {
    const { fs, fds } = importState(state, () => ctx.fsTimeNs(), options.fsLimits);
    return new WasiHost(config, ctx, devices, fs, fds, options);
  }

  exportState(): WasiStateData {
    return exportState(this.fs, this.fds);
  }

  /** The deterministic bytes a digest covers: device state and each file by guest path. */
  digestInput(): DigestInput {
    return digestInput(this.fs, this.fds);
  }

  /** xxh64 digests of digestInput(): devices, and each file by guest path. */
  digest(): WasiDigest {
    return digestState(this.fs, this.fds);
  }

  /**
   * The guest memory view, reused while it is over the memory's current buffer, also after anything that ran
   * guest code or a handler. Growth replaces `memory.buffer` and detaches the old buffer of a (non-shared)
   * memory, which empties every view of it; so a cached view whose bytes are still there is current, without
   * asking the memory for its buffer (an API call that would cost a tenth of a cheap host call). A view that
   * is empty (after growth, or of a zero-page memory) or of a shared memory (not detached on growth) is
   * checked against `memory.buffer` by identity.
   */
  private mem(): GuestMemory {
    const memory = this.ctx.memory();
    const m = this.memCache;
    if (m !== undefined && this.memCacheOf === memory) {
      if (m.bytes.length !== 0 && !m.shared) return m;
      const buffer = memory.buffer;
      if (m.buffer === buffer) return m;
      return (this.memCache = new GuestMemory(buffer));
    }
    this.memCacheOf = memory;
    return (this.memCache = new GuestMemory(memory.buffer));
  }

  // ---- helpers -----------------------------------------------------------------------------------------

  private dirFd(fd: number, rights: bigint): DirNode {
    const d = this.fds.get(fd);
    if (d.target !== FdTarget.Inode || d.node === undefined) fail(Errno.NOTDIR);
    if ((d.rightsBase & rights) !== rights) fail(Errno.NOTCAPABLE);
    if (d.node.kind !== InodeKind.Directory) fail(Errno.NOTDIR);
    return d.node;
  }

  /**
   * An output call: the bytes go to the driver (channel 1 or 2 follows the descriptor's target, so a renumbered
   * stdout is still stdout), and the guest always sees the whole write succeed.
   */
  private writeStdio(name: string, d: Descriptor, m: GuestMemory, iovs: Iovec[], nwrittenPtr: number): void {
    const data = m.gather(iovs);
    this.ctx.output(name, d.target === FdTarget.Stdout ? 1 : 2, data);
    // Re-read the memory view after calling out of the host, as every call through ctx does.
    this.mem().setU32(nwrittenPtr, data.length);
  }

  private fileOf(d: Descriptor): FileNode {
    if (d.target !== FdTarget.Inode || d.node === undefined) fail(Errno.SPIPE);
    if (d.node.kind === InodeKind.Directory) fail(Errno.ISDIR);
    if (d.node.kind !== InodeKind.File) fail(Errno.BADF);
    return d.node;
  }

  private writeFilestat(m: GuestMemory, ptr: number, node: Node | undefined): void {
    m.check(ptr, SIZE.FILESTAT);
    m.bytes.fill(0, ptr, ptr + SIZE.FILESTAT);
    if (node === undefined) {
      // stdio: a character device with no further metadata inside the VM.
      m.setU8(ptr + 16, Filetype.CHARACTER_DEVICE);
      return;
    }
    m.setU64(ptr, VIRTUAL_DEV);
    m.setU64(ptr + 8, node.ino);
    m.setU8(ptr + 16, filetypeOf(node));
    m.setU64(ptr + 24, node.nlink);
    const size = node.kind === InodeKind.File ? BigInt(node.size) : node.kind === InodeKind.Symlink ? BigInt(encoder.encode(node.target).length) : 0n;
    m.setU64(ptr + 32, size);
    m.setU64(ptr + 40, node.atimNs);
    m.setU64(ptr + 48, node.mtimNs);
    m.setU64(ptr + 56, node.ctimNs);
  }

  private setTimes(node: Node, atim: bigint, mtim: bigint, flags: number): void {
    if ((flags & ~FSTFLAGS_MASK) !== 0) fail(Errno.INVAL);
    if ((flags & FstFlag.ATIM) && (flags & FstFlag.ATIM_NOW)) fail(Errno.INVAL);
    if ((flags & FstFlag.MTIM) && (flags & FstFlag.MTIM_NOW)) fail(Errno.INVAL);
    const now = this.ctx.fsTimeNs();
    if (flags & FstFlag.ATIM) node.atimNs = BigInt.asUintN(64, atim);
    else if (flags & FstFlag.ATIM_NOW) node.atimNs = now;
    if (flags & FstFlag.MTIM) node.mtimNs = BigInt.asUintN(64, mtim);
    else if (flags & FstFlag.MTIM_NOW) node.mtimNs = now;
    node.ctimNs = now;
  }

  private readFile(file: FileNode, m: GuestMemory, iovs: Iovec[], offset: bigint): number {
    if (offset >= BigInt(file.size)) return 0;
    const data = file.read(Number(offset), totalLength(iovs));
    return m.scatter(iovs, data);
  }

  private writeFile(file: FileNode, data: Uint8Array, offset: bigint): void {
    const end = offset + BigInt(data.length);
    if (end > BigInt(this.fs.limits.maxFileBytes)) fail(Errno.FBIG);
    this.fs.writeAt(file, Number(offset), data);
  }

  private pathArg(m: GuestMemory, ptr: number, len: number): string {
    return m.string(ptr >>> 0, len >>> 0);
  }

  // ---- the imports -------------------------------------------------------------------------------------

  /** The guest's imports: every preview1 function, as the guest calls it (see importOf). */
  imports(): WasiImports {
    const out: WasiImports = {};
    for (const [name, f] of Object.entries(this.hostFunctions())) out[name] = importOf(f);
    return out;
  }

  /**
   * Every preview1 function by import name, before the import boundary (see HostFunction). Each declares the
   * parameters it reads (a prefix of its preview1 signature: `length` <= 9) and ignores any further arguments.
   */
  hostFunctions(): Record<string, HostFunction> {
    const calls: Record<string, HostFunction> = {
      args_sizes_get: (argcPtr: number, sizePtr: number) => this.sizesGet(this.args, argcPtr, sizePtr),
      args_get: (argvPtr: number, bufPtr: number) => this.listGet(this.args, argvPtr, bufPtr),
      environ_sizes_get: (countPtr: number, sizePtr: number) => this.sizesGet(this.env, countPtr, sizePtr),
      environ_get: (envPtr: number, bufPtr: number) => this.listGet(this.env, envPtr, bufPtr),

      clock_res_get: (id: number, ptr: number) => {
        if (id > Clock.THREAD_CPUTIME) fail(Errno.INVAL);
        this.mem().setU64(ptr, this.config.clockResolutionNs ?? DEFAULT_CLOCK_RESOLUTION_NS);
      },

      clock_time_get: (id: number, precision: bigint, ptr: number) => {
        if (id > Clock.THREAD_CPUTIME) fail(Errno.INVAL);
        this.mem().check(ptr, 8);
        let request = this.clockRequests[id];
        if (request === undefined || this.clockPrecisions[id] !== precision) {
          request = clockRequest(id, precision);
          this.clockRequests[id] = request;
          this.clockPrecisions[id] = precision;
        }
        const res = this.ctx.input('clock_time_get', request, this.clockLive[id]!);
        if (res.length !== 8) malformed('clock_time_get', `expected 8 bytes, got ${res.length}`);
        this.mem().write8(ptr, res);
      },

      random_get: (ptr: number, len: number) => {
        this.mem().check(ptr, len);
        if (len !== this.randomRequestLen) {
          this.randomRequest = u32le(len);
          this.randomRequestLen = len;
        }
        const res = this.ctx.input('random_get', this.randomRequest, () => this.devices.random(len));
        if (res.length !== len) malformed('random_get', `asked ${len} bytes, got ${res.length}`);
        this.mem().write(ptr, res);
      },

      fd_advise: (fd: number, _offset: bigint, _len: bigint, advice: number) => {
        const d = this.fds.withRights(fd, Right.FD_ADVISE);
        this.fileOf(d);
        if (advice > 5) fail(Errno.INVAL);
      },

      fd_allocate: (fd: number, offset: bigint, len: bigint) => {
        const d = this.fds.withRights(fd, Right.FD_ALLOCATE);
        const file = this.fileOf(d);
        const end = BigInt.asUintN(64, offset) + BigInt.asUintN(64, len);
        if (end > BigInt(this.fs.limits.maxFileBytes)) fail(Errno.FBIG);
        if (end > BigInt(file.size)) {
          this.fs.setSize(file, Number(end));
          this.fs.touch(file);
        }
      },

      fd_close: (fd: number) => {
        const d = this.fds.get(fd);
        this.fds.delete(fd);
        if (d.node) this.fs.release(d.node);
      },

      fd_datasync: (fd: number) => {
        const d = this.fds.withRights(fd, Right.FD_DATASYNC);
        if (d.target !== FdTarget.Inode) fail(Errno.INVAL);
      },

      fd_sync: (fd: number) => {
        const d = this.fds.withRights(fd, Right.FD_SYNC);
        if (d.target !== FdTarget.Inode) fail(Errno.INVAL);
      },

      fd_fdstat_get: (fd: number, ptr: number) => {
        const d = this.fds.get(fd);
        const m = this.mem();
        m.check(ptr, SIZE.FDSTAT);
        m.bytes.fill(0, ptr, ptr + SIZE.FDSTAT);
        m.setU8(ptr, d.node ? filetypeOf(d.node) : Filetype.CHARACTER_DEVICE);
        m.setU16(ptr + 2, d.flags);
        m.setU64(ptr + 8, d.rightsBase);
        m.setU64(ptr + 16, d.rightsInheriting);
      },

      fd_fdstat_set_flags: (fd: number, flags: number) => {
        const d = this.fds.withRights(fd, Right.FD_FDSTAT_SET_FLAGS);
        if ((flags & ~FDFLAGS_MASK) !== 0) fail(Errno.INVAL);
        d.flags = flags;
      },

      fd_fdstat_set_rights: (fd: number, base: bigint, inheriting: bigint) => {
        const d = this.fds.get(fd);
        base = BigInt.asUintN(64, base);
        inheriting = BigInt.asUintN(64, inheriting);
        // Rights only ever shrink: a descriptor cannot regain what it (or its parent) gave up.
        if ((base & ~d.rightsBase) !== 0n || (inheriting & ~d.rightsInheriting) !== 0n) fail(Errno.NOTCAPABLE);
        d.rightsBase = base;
        d.rightsInheriting = inheriting;
      },

      fd_filestat_get: (fd: number, ptr: number) => {
        const d = this.fds.withRights(fd, Right.FD_FILESTAT_GET);
        this.writeFilestat(this.mem(), ptr, d.node);
      },

      fd_filestat_set_size: (fd: number, size: bigint) => {
        const d = this.fds.withRights(fd, Right.FD_FILESTAT_SET_SIZE);
        const file = this.fileOf(d);
        size = BigInt.asUintN(64, size);
        if (size > BigInt(this.fs.limits.maxFileBytes)) fail(Errno.FBIG);
        this.fs.setSize(file, Number(size));
        this.fs.touch(file);
      },

      fd_filestat_set_times: (fd: number, atim: bigint, mtim: bigint, flags: number) => {
        const d = this.fds.withRights(fd, Right.FD_FILESTAT_SET_TIMES);
        if (d.node === undefined) fail(Errno.BADF);
        this.setTimes(d.node, atim, mtim, flags);
      },

      fd_pread: (fd: number, iovsPtr: number, iovsLen: number, offset: bigint, nreadPtr: number) => {
        const d = this.fds.withRights(fd, Right.FD_READ);
        // Stdin is a stream: positional reads make no sense on it (ESPIPE, as on a pipe or tty).
        const file = this.fileOf(d);
        const m = this.mem();
        const iovs = m.iovecs(iovsPtr, iovsLen);
        m.check(nreadPtr, 4);
        const n = this.readFile(file, m, iovs, BigInt.asUintN(64, offset));
        m.setU32(nreadPtr, n);
      },

      fd_pwrite: (fd: number, iovsPtr: number, iovsLen: number, offset: bigint, nwrittenPtr: number) => {
        const d = this.fds.withRights(fd, Right.FD_WRITE);
        const m = this.mem();
        const iovs = m.iovecs(iovsPtr, iovsLen);
        m.check(nwrittenPtr, 4);
        if (d.target === FdTarget.Stdout || d.target === FdTarget.Stderr) {
          // A terminal or pipe ignores the offset; the bytes still go out, so it is an output call.
          return this.writeStdio('fd_pwrite', d, m, iovs, nwrittenPtr);
        }
        const file = this.fileOf(d);
        const data = m.gather(iovs);
        // POSIX: pwrite writes at `offset` even with APPEND (the testsuite accepts this or Linux's way).
        this.writeFile(file, data, BigInt.asUintN(64, offset));
        m.setU32(nwrittenPtr, data.length);
      },

      fd_read: (fd: number, iovsPtr: number, iovsLen: number, nreadPtr: number) => {
        const d = this.fds.withRights(fd, Right.FD_READ);
        const m = this.mem();
        const iovs = m.iovecs(iovsPtr, iovsLen);
        m.check(nreadPtr, 4);
        if (d.target === FdTarget.Stdin) {
          const max = totalLength(iovs);
          if (max === 0) {
            m.setU32(nreadPtr, 0);
            return;
          }
          const res = this.ctx.input('fd_read', u32le(max), () => this.devices.stdinRead(max));
          if (res.length > max) malformed('fd_read', `asked at most ${max} bytes, got ${res.length}`);
          const m2 = this.mem();
          m2.scatter(iovs, res);
          m2.setU32(nreadPtr, res.length);
          return;
        }
        const file = this.fileOf(d);
        const n = this.readFile(file, m, iovs, d.offset);
        d.offset += BigInt(n);
        m.setU32(nreadPtr, n);
      },

      fd_write: (fd: number, iovsPtr: number, iovsLen: number, nwrittenPtr: number) => {
        const d = this.fds.withRights(fd, Right.FD_WRITE);
        const m = this.mem();
        const iovs = m.iovecs(iovsPtr, iovsLen);
        m.check(nwrittenPtr, 4);
        if (d.target === FdTarget.Stdout || d.target === FdTarget.Stderr) return this.writeStdio('fd_write', d, m, iovs, nwrittenPtr);
        const file = this.fileOf(d);
        const data = m.gather(iovs);
        const at = d.flags & FdFlag.APPEND ? BigInt(file.size) : d.offset;
        this.writeFile(file, data, at);
        d.offset = at + BigInt(data.length);
        m.setU32(nwrittenPtr, data.length);
      },

      fd_prestat_get: (fd: number, ptr: number) => {
        const d = this.fds.get(fd);
        if (d.preopen === undefined) fail(Errno.BADF);
        const m = this.mem();
        m.check(ptr, SIZE.PRESTAT);
        m.bytes.fill(0, ptr, ptr + SIZE.PRESTAT);
        m.setU8(ptr, PREOPENTYPE_DIR);
        m.setU32(ptr + 4, encoder.encode(d.preopen).length);
      },

      fd_prestat_dir_name: (fd: number, ptr: number, len: number) => {
        const d = this.fds.get(fd);
        if (d.preopen === undefined) fail(Errno.BADF);
        const name = encoder.encode(d.preopen);
        if (len < name.length) fail(Errno.NAMETOOLONG);
        this.mem().write(ptr, name);
      },

      fd_readdir: (fd: number, buf: number, bufLen: number, cookie: bigint, usedPtr: number) => {
        const d = this.fds.withRights(fd, Right.FD_READDIR);
        const dir = d.node;
        if (dir === undefined || dir.kind !== InodeKind.Directory) fail(Errno.NOTDIR);
        const m = this.mem();
        m.check(buf, bufLen);
        m.check(usedPtr, 4);
        // "." then ".." (cookies 0 and 1), then the entries numbered at or above the cookie (DirNode: numbers
        // survive removals, so a guest removing what it read and reading on misses nothing).
        const start = BigInt.asUintN(64, cookie);
        const list: Array<[string, Node, bigint]> = [];
        if (start <= 0n) list.push(['.', dir, 0n]);
        if (start <= 1n) list.push(['..', dir.parent, 1n]);
        for (const [name, node] of dir.entries) {
          const number = dir.numberOf(name);
          if (number >= start) list.push([name, node, number]);
        }
        let at = 0;
        for (let k = 0; k < list.length && at < bufLen; k++) {
          const [name, node, number] = list[k]!;
          const nameBytes = encoder.encode(name);
          const ent = new Uint8Array(SIZE.DIRENT + nameBytes.length);
          const v = new DataView(ent.buffer);
          v.setBigUint64(0, number + 1n, true);
          v.setBigUint64(8, node.ino, true);
          v.setUint32(16, nameBytes.length, true);
          v.setUint8(20, filetypeOf(node));
          ent.set(nameBytes, SIZE.DIRENT);
          // The last entry may be cut short: a full buffer tells the guest to call again from its cookie.
          const n = Math.min(ent.length, bufLen - at);
          m.bytes.set(ent.subarray(0, n), buf + at);
          at += n;
        }
        m.setU32(usedPtr, at);
      },

      fd_renumber: (from: number, to: number) => {
        const src = this.fds.get(from);
        const dst = this.fds.get(to);
        if (from === to) return;
        if (dst.node) this.fs.release(dst.node);
        this.fds.set(to, src);
        this.fds.delete(from);
      },

      fd_seek: (fd: number, offset: bigint, whence: number, ptr: number) => {
        const d = this.fds.get(fd);
        // Asking for the position only (CUR, 0) is what fd_tell does, so FD_TELL suffices for it.
        const need = whence === Whence.CUR && offset === 0n ? Right.FD_TELL | Right.FD_SEEK : Right.FD_SEEK;
        if ((d.rightsBase & need) === 0n) fail(Errno.NOTCAPABLE);
        const file = this.fileOf(d);
        const m = this.mem();
        m.check(ptr, 8);
        let base: bigint;
        if (whence === Whence.SET) base = 0n;
        else if (whence === Whence.CUR) base = d.offset;
        else if (whence === Whence.END) base = BigInt(file.size);
        else fail(Errno.INVAL);
        const next = base + BigInt.asIntN(64, offset);
        if (next < 0n) fail(Errno.INVAL);
        if (next > 0x7fff_ffff_ffff_ffffn) fail(Errno.OVERFLOW);
        d.offset = next;
        m.setU64(ptr, next);
      },

      fd_tell: (fd: number, ptr: number) => {
        const d = this.fds.withRights(fd, Right.FD_TELL);
        this.fileOf(d);
        this.mem().setU64(ptr, d.offset);
      },

      path_create_directory: (fd: number, pathPtr: number, pathLen: number) => {
        const dir = this.dirFd(fd, Right.PATH_CREATE_DIRECTORY);
        this.fs.mkdir(dir, this.pathArg(this.mem(), pathPtr, pathLen));
      },

      path_filestat_get: (fd: number, flags: number, pathPtr: number, pathLen: number, ptr: number) => {
        const dir = this.dirFd(fd, Right.PATH_FILESTAT_GET);
        const m = this.mem();
        m.check(ptr, SIZE.FILESTAT);
        const node = this.fs.lookup(dir, this.pathArg(m, pathPtr, pathLen), (flags & LOOKUP_SYMLINK_FOLLOW) !== 0);
        this.writeFilestat(m, ptr, node);
      },

      path_filestat_set_times: (fd: number, flags: number, pathPtr: number, pathLen: number, atim: bigint, mtim: bigint, fst: number) => {
        const dir = this.dirFd(fd, Right.PATH_FILESTAT_SET_TIMES);
        if ((fst & ~FSTFLAGS_MASK) !== 0) fail(Errno.INVAL);
        const node = this.fs.lookup(dir, this.pathArg(this.mem(), pathPtr, pathLen), (flags & LOOKUP_SYMLINK_FOLLOW) !== 0);
        this.setTimes(node, atim, mtim, fst);
      },

      path_link: (oldFd: number, oldFlags: number, oldPtr: number, oldLen: number, newFd: number, newPtr: number, newLen: number) => {
        const from = this.dirFd(oldFd, Right.PATH_LINK_SOURCE);
        const to = this.dirFd(newFd, Right.PATH_LINK_TARGET);
        const m = this.mem();
        const oldPath = this.pathArg(m, oldPtr, oldLen);
        const newPath = this.pathArg(m, newPtr, newLen);
        this.fs.hardlink(from, oldPath, (oldFlags & LOOKUP_SYMLINK_FOLLOW) !== 0, to, newPath);
      },

      path_open: (fd: number, dirflags: number, pathPtr: number, pathLen: number, oflags: number, base: bigint, inheriting: bigint, fdflags: number, fdPtr: number) => {
        let need = Right.PATH_OPEN;
        if (oflags & OFlag.CREAT) need |= Right.PATH_CREATE_FILE;
        if (oflags & OFlag.TRUNC) need |= Right.PATH_FILESTAT_SET_SIZE;
        const parent = this.fds.get(fd);
        const dir = this.dirFd(fd, need);
        if ((oflags & ~OFLAGS_MASK) !== 0 || (fdflags & ~FDFLAGS_MASK) !== 0) fail(Errno.INVAL);
        const m = this.mem();
        m.check(fdPtr, 4);
        const path = this.pathArg(m, pathPtr, pathLen);
        base = BigInt.asUintN(64, base);
        inheriting = BigInt.asUintN(64, inheriting);
        const { node } = this.fs.open(dir, path, {
          follow: (dirflags & LOOKUP_SYMLINK_FOLLOW) !== 0,
          create: (oflags & OFlag.CREAT) !== 0,
          exclusive: (oflags & OFlag.EXCL) !== 0,
          directory: (oflags & OFlag.DIRECTORY) !== 0,
          // Writing or truncating cannot apply to a directory (EISDIR, as open(2) says).
          write: (oflags & OFlag.TRUNC) !== 0 || (base & Right.FD_WRITE) !== 0n,
        });
        const kindRights = node.kind === InodeKind.Directory ? DIR_RIGHTS : FILE_RIGHTS;
        const desc: Descriptor = {
          target: FdTarget.Inode,
          node,
          rightsBase: base & parent.rightsInheriting & kindRights,
          rightsInheriting: inheriting & parent.rightsInheriting,
          flags: fdflags,
          offset: 0n,
        };
        const newFd = this.fds.insert(desc);
        this.fs.retain(node);
        if (node.kind === InodeKind.File && (oflags & OFlag.TRUNC) && node.size > 0) {
          this.fs.setSize(node, 0);
          this.fs.touch(node);
        }
        m.setU32(fdPtr, newFd);
      },

      path_readlink: (fd: number, pathPtr: number, pathLen: number, buf: number, bufLen: number, usedPtr: number) => {
        const dir = this.dirFd(fd, Right.PATH_READLINK);
        const m = this.mem();
        m.check(buf, bufLen);
        m.check(usedPtr, 4);
        const target = encoder.encode(this.fs.readlink(dir, this.pathArg(m, pathPtr, pathLen)));
        const n = Math.min(target.length, bufLen);
        m.bytes.set(target.subarray(0, n), buf);
        m.setU32(usedPtr, n);
      },

      path_remove_directory: (fd: number, pathPtr: number, pathLen: number) => {
        const dir = this.dirFd(fd, Right.PATH_REMOVE_DIRECTORY);
        this.fs.rmdir(dir, this.pathArg(this.mem(), pathPtr, pathLen));
      },

      path_rename: (fd: number, oldPtr: number, oldLen: number, newFd: number, newPtr: number, newLen: number) => {
        const from = this.dirFd(fd, Right.PATH_RENAME_SOURCE);
        const to = this.dirFd(newFd, Right.PATH_RENAME_TARGET);
        const m = this.mem();
        this.fs.rename(from, this.pathArg(m, oldPtr, oldLen), to, this.pathArg(m, newPtr, newLen));
      },

      path_symlink: (oldPtr: number, oldLen: number, fd: number, newPtr: number, newLen: number) => {
        const dir = this.dirFd(fd, Right.PATH_SYMLINK);
        const m = this.mem();
        const target = this.pathArg(m, oldPtr, oldLen);
        this.fs.symlink(target, dir, this.pathArg(m, newPtr, newLen));
      },

      path_unlink_file: (fd: number, pathPtr: number, pathLen: number) => {
        const dir = this.dirFd(fd, Right.PATH_UNLINK_FILE);
        this.fs.unlink(dir, this.pathArg(this.mem(), pathPtr, pathLen));
      },

      poll_oneoff: (inPtr: number, outPtr: number, nsubs: number, neventsPtr: number) => {
        if (nsubs === 0) fail(Errno.INVAL);
        const m = this.mem();
        if (nsubs > 0x7fff_ffff / SIZE.SUBSCRIPTION) fail(Errno.FAULT);
        m.check(inPtr, nsubs * SIZE.SUBSCRIPTION);
        m.check(outPtr, nsubs * SIZE.EVENT);
        m.check(neventsPtr, 4);
        const request = m.slice(inPtr, nsubs * SIZE.SUBSCRIPTION).slice();
        const subs = decodeSubscriptions(request);
        if (subs === undefined) fail(Errno.INVAL);
        const res = this.ctx.input('poll_oneoff', request, () => encodeEvents(pollLive(subs, (s) => this.readiness(s), this.devices)));
        if (res.length % SIZE.EVENT !== 0 || res.length === 0 || res.length > nsubs * SIZE.EVENT) {
          malformed('poll_oneoff', `${res.length} bytes is not 1..${nsubs} events of ${SIZE.EVENT} bytes`);
        }
        const m2 = this.mem();
        m2.write(outPtr, res);
        m2.setU32(neventsPtr, res.length / SIZE.EVENT);
      },

      proc_exit: (code: number) => {
        this.ctx.output('proc_exit', EXIT_CHANNEL, u32le(code));
        throw new ExitSignal(code >>> 0);
      },

      // Signals have no meaning for a sandboxed guest (and preview1 later removed proc_raise).
      proc_raise: (_sig: number) => fail(Errno.NOSYS),

      sched_yield: () => {
        const res = this.ctx.input('sched_yield', EMPTY, () => EMPTY);
        if (res.length !== 0) malformed('sched_yield', `expected no bytes, got ${res.length}`);
      },

      // No descriptor is ever a socket in this VM: EBADF for a closed number, ENOTSOCK for anything else.
      sock_accept: (fd: number) => this.notSocket(fd),
      sock_recv: (fd: number) => this.notSocket(fd),
      sock_send: (fd: number) => this.notSocket(fd),
      sock_shutdown: (fd: number) => this.notSocket(fd),
    };

    return calls;
  }

  private notSocket(fd: number): never {
    this.fds.get(fd);
    fail(Errno.NOTSOCK);
  }

  private readiness(s: FdSub): FdReadiness {
    const d = this.fds.entries.get(s.fd);
    if (d === undefined) return { kind: 'error', errno: Errno.BADF };
    if ((d.rightsBase & Right.POLL_FD_READWRITE) === 0n && d.target === FdTarget.Inode) {
      return { kind: 'error', errno: Errno.NOTCAPABLE };
    }
    const reading = s.type === EventType.FD_READ;
    switch (d.target) {
      case FdTarget.Stdin:
        return reading ? { kind: 'stdin' } : { kind: 'error', errno: Errno.BADF };
      case FdTarget.Stdout:
      case FdTarget.Stderr:
        return reading ? { kind: 'error', errno: Errno.BADF } : { kind: 'ready', nbytes: 0n };
      default: {
        const node = d.node;
        if (reading && node?.kind === InodeKind.File) {
          const left = BigInt(node.size) - d.offset;
          return { kind: 'ready', nbytes: left > 0n ? left : 0n };
        }
        return { kind: 'ready', nbytes: 0n };
      }
    }
  }

  private sizesGet(list: Uint8Array[], countPtr: number, sizePtr: number): void {
    const m = this.mem();
    m.check(countPtr, 4);
    m.check(sizePtr, 4);
    m.setU32(countPtr, list.length);
    m.setU32(sizePtr, list.reduce((s, b) => s + b.length, 0));
  }

  private listGet(list: Uint8Array[], ptrs: number, buf: number): void {
    const m = this.mem();
    m.check(ptrs, list.length * 4);
    m.check(buf, list.reduce((s, b) => s + b.length, 0));
    let at = buf;
    list.forEach((b, i) => {
      m.setU32(ptrs + i * 4, at);
      m.write(at, b);
      at += b.length;
    });
  }
}
