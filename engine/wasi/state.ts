/**
 * The WASI device state as plain data: everything the virtual hardware holds besides linear memory.
 * It is what a snapshot stores (schema/twinstep.fbs maps it 1:1) and what the digest covers, so it must be
 * complete: restoring it into a fresh host gives a host that behaves identically from then on.
 */

export const enum InodeKind {
  File = 0,
  Directory = 1,
  Symlink = 2,
}

export interface InodeData {
  /** Stable inode number (reported as filestat.ino). */
  readonly ino: bigint;
  readonly kind: InodeKind;
  /** File content (only `size` bytes are meaningful; File only). */
  readonly data?: Uint8Array;
  /**
   * Directory entries in insertion order, without "." and ".." (Directory only). `number`: the entry's fd_readdir
   * number (its cookie is one more), given only when it is not the canonical one, its index + 2 (entries were
   * removed before it). Canonical numbers are left out so a directory nothing was removed from encodes and
   * digests as it always did.
   */
  readonly entries?: ReadonlyArray<{ readonly name: string; readonly ino: bigint; readonly number?: bigint }>;
  /** The number the next new entry gets, when it is not one more than the last entry's (2 for none): Directory only. */
  readonly nextNumber?: bigint;
  /** Link target (Symlink only). */
  readonly target?: string;
  /** Parent directory inode (Directory only; a preopen root points at itself). */
  readonly parent?: bigint;
  readonly nlink: bigint;
  readonly atimNs: bigint;
  readonly mtimNs: bigint;
  readonly ctimNs: bigint;
}

/** What an open descriptor refers to. */
export const enum FdTarget {
  Stdin = 0,
  Stdout = 1,
  Stderr = 2,
  Inode = 3,
}

export interface FdData {
  readonly fd: number;
  readonly target: FdTarget;
  /** Inode number (FdTarget.Inode only). */
  readonly ino?: bigint;
  /** Guest name of a preopened directory (fd_prestat_dir_name); absent for ordinary descriptors. */
  readonly preopen?: string;
  readonly rightsBase: bigint;
  readonly rightsInheriting: bigint;
  /** fdflags (APPEND, DSYNC, NONBLOCK, RSYNC, SYNC). */
  readonly flags: number;
  /** Current file offset, bytes. */
  readonly offset: bigint;
}

export interface WasiStateData {
  readonly inodes: readonly InodeData[];
  readonly fds: readonly FdData[];
  /** Next inode number to hand out. */
  readonly nextIno: bigint;
  /**
   * The mounted trees (one per preopen, in preopen order): guest name and root directory inode. Needed
   * because a guest may close (or renumber) a preopen descriptor while the tree lives on. Optional for
   * older snapshots; when absent the mounts are derived from the descriptors that carry `preopen`.
   */
  readonly mounts?: ReadonlyArray<{ readonly guest: string; readonly ino: bigint }>;
}
