/**
 * Builds the virtual disk from the host directories named by the preopens, once, at boot. After this the
 * host file system is never read again (and never written): everything the guest does stays in the VM.
 *
 * Determinism: entries are visited in sorted (code unit) order and inode numbers handed out in that
 * order, and every loaded inode gets the same timestamp (`timeNs`), so two replicas loading equal trees
 * get equal disks regardless of host mtimes or readdir order.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Preopen } from './context.ts';
import type { DirNode } from './inode.ts';
import { DEFAULT_FS_LIMITS, VirtualFs, type FsLimits } from './fs.ts';
import { WasiError } from './errno.ts';
import { MachineError } from '../machine/errors.ts';

export interface LoadLimits {
  /** Most bytes of file content loaded at boot (all preopens together). */
  readonly maxLoadBytes: number;
  /** Most inodes loaded at boot. */
  readonly maxLoadFiles: number;
}

export const DEFAULT_LOAD_LIMITS: LoadLimits = { maxLoadBytes: 1 << 30, maxLoadFiles: 100_000 };

/**
 * A preopen that cannot be loaded: a user-facing condition, not a guest error. A MachineError so the CLI
 * maps it to an exit code: E_LIMIT for a tree beyond the limits, E_IO for a missing/unreadable directory.
 */
export class DiskLoadError extends MachineError {
  constructor(code: 'E_LIMIT' | 'E_IO', message: string) {
    super(code, message);
    this.name = 'DiskLoadError';
  }
}

export interface LoadOptions {
  readonly timeNs: bigint;
  readonly now: () => bigint;
  readonly fsLimits?: FsLimits;
  readonly loadLimits?: LoadLimits;
}

/** Loads every preopen into one VirtualFs; mount i corresponds to preopens[i]. */
export function loadDisk(preopens: readonly Preopen[], opts: LoadOptions): VirtualFs {
  const limits = opts.loadLimits ?? DEFAULT_LOAD_LIMITS;
  const fs = new VirtualFs(opts.now, opts.fsLimits ?? DEFAULT_FS_LIMITS);
  let bytes = 0;
  let files = 0;

  const count = (hostPath: string, size: number): void => {
    files++;
    bytes += size;
    if (files > limits.maxLoadFiles) {
      throw new DiskLoadError('E_LIMIT', `preopened directories hold more than ${limits.maxLoadFiles} entries (at ${hostPath}); mount a smaller tree`);
    }
    if (bytes > limits.maxLoadBytes) {
      throw new DiskLoadError('E_LIMIT', `preopened directories hold more than ${limits.maxLoadBytes} bytes of file content (at ${hostPath}); mount a smaller tree`);
    }
  };

  const wrap = <T>(f: () => T, hostPath: string): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof WasiError) throw new DiskLoadError('E_LIMIT', `virtual disk limit reached while loading ${hostPath} (errno ${e.errno})`);
      throw e;
    }
  };

  const loadDir = (hostDir: string, dir: DirNode): void => {
    let names: string[];
    try {
      names = readdirSync(hostDir);
    } catch (e) {
      throw new DiskLoadError('E_IO', `cannot read directory ${hostDir}: ${(e as Error).message}`);
    }
    names.sort();
    for (const name of names) {
      const hostPath = join(hostDir, name);
      const st = lstatSync(hostPath);
      if (st.isSymbolicLink()) {
        count(hostPath, 0);
        // Kept as a link: following it could leak host paths outside the preopen into the VM.
        const link = wrap(() => fs.newSymlink(readlinkSync(hostPath, 'utf8'), opts.timeNs), hostPath);
        link.nlink = 1n;
        dir.set(name, link);
      } else if (st.isDirectory()) {
        count(hostPath, 0);
        const sub = wrap(() => fs.newDir(dir, opts.timeNs), hostPath);
        dir.set(name, sub);
        loadDir(hostPath, sub);
      } else if (st.isFile()) {
        count(hostPath, st.size);
        const f = wrap(() => fs.newFile(readFileSync(hostPath), opts.timeNs), hostPath);
        f.nlink = 1n;
        dir.set(name, f);
      }
      // Sockets, FIFOs and device nodes have no meaning inside the VM: skipped.
    }
  };

  for (const p of preopens) {
    let st;
    try {
      // stat, not lstat: a symlinked preopen root is resolved once, deliberately (the user named it).
      st = statSync(p.host);
    } catch (e) {
      throw new DiskLoadError('E_IO', `preopen ${p.host}::${p.guest}: ${(e as Error).message}`);
    }
    if (!st.isDirectory()) throw new DiskLoadError('E_IO', `preopen ${p.host}::${p.guest}: not a directory`);
    const root = wrap(() => fs.newDir(undefined, opts.timeNs), p.host);
    fs.addMount(p.guest, root);
    loadDir(p.host, root);
  }
  return fs;
}
