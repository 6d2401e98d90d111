/** The guest's file descriptor table: what each number refers to, with its rights, flags and offset. */
import { FdTarget } from './state.ts';
import type { Node } from './inode.ts';
import { Errno, fail } from './errno.ts';

export interface Descriptor {
  target: FdTarget;
  /** The open inode (FdTarget.Inode only). */
  node?: Node;
  /** Guest name of a preopened directory; survives fd_renumber, dropped by nothing else. */
  preopen?: string;
  rightsBase: bigint;
  rightsInheriting: bigint;
  flags: number;
  offset: bigint;
}

/** Most descriptors open at once (EMFILE beyond), like a process's RLIMIT_NOFILE. */
export const MAX_FDS = 65536;

export class FdTable {
  readonly entries = new Map<number, Descriptor>();

  get(fd: number): Descriptor {
    const d = this.entries.get(fd);
    if (!d) fail(Errno.BADF);
    return d;
  }

  /** The descriptor, which must have all of `rights` (ENOTCAPABLE otherwise). */
  withRights(fd: number, rights: bigint): Descriptor {
    const d = this.get(fd);
    if ((d.rightsBase & rights) !== rights) fail(Errno.NOTCAPABLE);
    return d;
  }

  /** Lowest free number, as POSIX open() does, so the numbering is a function of the call history. */
  insert(d: Descriptor): number {
    if (this.entries.size >= MAX_FDS) fail(Errno.MFILE);
    let fd = 0;
    while (this.entries.has(fd)) fd++;
    this.entries.set(fd, d);
    return fd;
  }

  set(fd: number, d: Descriptor): void {
    this.entries.set(fd, d);
  }

  delete(fd: number): void {
    this.entries.delete(fd);
  }

  /** Ascending fd order (for export and digests). */
  sorted(): Array<[number, Descriptor]> {
    return [...this.entries.entries()].sort((a, b) => a[0] - b[0]);
  }
}
