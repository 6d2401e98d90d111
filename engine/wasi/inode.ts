/**
 * The nodes of the virtual file system. Directories hold their children by reference (a hard-linked file is
 * the same object under several names); inode numbers are only labels for filestat and for snapshots.
 */
import { InodeKind } from './state.ts';

export interface Times {
  atimNs: bigint;
  mtimNs: bigint;
  ctimNs: bigint;
}

abstract class NodeBase implements Times {
  atimNs: bigint;
  mtimNs: bigint;
  ctimNs: bigint;
  constructor(
    readonly ino: bigint,
    timeNs: bigint,
  ) {
    this.atimNs = timeNs;
    this.mtimNs = timeNs;
    this.ctimNs = timeNs;
  }
}

/** A regular file: a growable byte buffer of which the first `size` bytes are the content. */
export class FileNode extends NodeBase {
  readonly kind = InodeKind.File;
  /** Number of directory entries naming this file (0 once unlinked while still open). */
  nlink = 0n;
  private buf: Uint8Array;
  size = 0;

  constructor(ino: bigint, timeNs: bigint, content?: Uint8Array) {
    super(ino, timeNs);
    this.buf = content ? new Uint8Array(content) : new Uint8Array(0);
    this.size = this.buf.length;
  }

  /** The meaningful bytes (a view: copy before keeping it). */
  content(): Uint8Array {
    return this.buf.subarray(0, this.size);
  }

  /** Sets the length; new bytes read as zero. The caller has checked the disk quota. */
  resize(size: number): void {
    if (size > this.buf.length) {
      // Doubling keeps a stream of small appends linear overall.
      const grown = new Uint8Array(Math.max(size, Math.min(this.buf.length * 2, size + (64 << 20)), 64));
      grown.set(this.buf.subarray(0, this.size));
      this.buf = grown;
    } else if (size < this.size) {
      // Bytes beyond the new end must read as zero if the file later grows again.
      this.buf.fill(0, size, this.size);
    }
    this.size = size;
  }

  read(offset: number, max: number): Uint8Array {
    if (offset >= this.size) return new Uint8Array(0);
    return this.buf.subarray(offset, Math.min(this.size, offset + max));
  }

  /** Writes at `offset`, growing the file as needed (the caller has checked the quota). */
  write(offset: number, data: Uint8Array): void {
    const end = offset + data.length;
    if (end > this.size) this.resize(end);
    this.buf.set(data, offset);
  }
}

/** The fd_readdir cookie after "." (the one after ".." is 2); a directory's first entry is numbered 2. */
export const FIRST_ENTRY_COOKIE = 2n;

export class DirNode extends NodeBase {
  readonly kind = InodeKind.Directory;
  private readonly children = new Map<string, Node>();
  /**
   * Each entry's number, given in insertion order and never reused: fd_readdir goes on from the entries numbered
   * at or above the cookie it is given (an entry's d_next is its number + 1), so removing entries that were
   * already read moves nothing under a guest reading on (positions would: it skipped as many entries as were
   * removed, and `rm -rf` of a large directory left files behind).
   */
  private readonly numbers = new Map<string, bigint>();
  /** The number the next new entry gets. */
  nextNumber = FIRST_ENTRY_COOKIE;
  /** The containing directory; a mount root is its own parent. */
  parent: DirNode;
  /** False once removed: a removed directory still open by a descriptor accepts no new entries. */
  live = true;

  constructor(ino: bigint, timeNs: bigint, parent?: DirNode) {
    super(ino, timeNs);
    this.parent = parent ?? this;
  }

  /** Children in insertion order, without "." and "..". */
  get entries(): ReadonlyMap<string, Node> {
    return this.children;
  }

  /** Adds an entry (a new name gets the next number), or points an existing name elsewhere (it keeps its number). */
  set(name: string, node: Node): void {
    if (!this.children.has(name)) this.numbers.set(name, this.nextNumber++);
    this.children.set(name, node);
  }

  delete(name: string): boolean {
    this.numbers.delete(name);
    return this.children.delete(name);
  }

  /**
   * Whether every entry has the number of its place (index + 2) and the next one follows the last: true until an
   * entry is removed (or renamed away), and then what snapshots and digests need not spell out.
   */
  get canonicalNumbers(): boolean {
    if (this.nextNumber !== FIRST_ENTRY_COOKIE + BigInt(this.children.size)) return false;
    let i = FIRST_ENTRY_COOKIE;
    for (const n of this.numbers.values()) if (n !== i++) return false;
    return true;
  }

  /** An entry's number (fd_readdir's cookie for it is one more). */
  numberOf(name: string): bigint {
    return this.numbers.get(name)!;
  }

  get nlink(): bigint {
    // POSIX convention: its own entry, its ".", and the ".." of each subdirectory.
    let n = this.live ? 2n : 0n;
    for (const c of this.entries.values()) if (c.kind === InodeKind.Directory) n++;
    return n;
  }
}

export class SymlinkNode extends NodeBase {
  readonly kind = InodeKind.Symlink;
  nlink = 0n;
  constructor(
    ino: bigint,
    timeNs: bigint,
    readonly target: string,
  ) {
    super(ino, timeNs);
  }
}

export type Node = FileNode | DirNode | SymlinkNode;
