/**
 * The virtual file system owned by the VM: a tree of inodes per mount (preopen), path resolution confined
 * to the directory a lookup starts from, and every mutation a guest can make. It never touches the host
 * file system (loading happens once, in image.ts), and it reads time only from the injected clock, so two
 * replicas given the same calls compute the same tree.
 */
import { DirNode, FileNode, SymlinkNode, type Node } from './inode.ts';
import { InodeKind } from './state.ts';
import { Errno, fail } from './errno.ts';

export interface FsLimits {
  /** Total bytes of file content the disk may hold (writes beyond fail with ENOSPC). */
  readonly maxBytes: number;
  /** Largest single file (EFBIG beyond). */
  readonly maxFileBytes: number;
  /** Most inodes (files, directories, symlinks) the disk may hold (ENOSPC beyond). */
  readonly maxNodes: number;
}

export const DEFAULT_FS_LIMITS: FsLimits = {
  maxBytes: 1 << 30,
  maxFileBytes: 1 << 30,
  maxNodes: 1_000_000,
};

/** Linux's limits, so guests see the same ENAMETOOLONG a native run would. */
const NAME_MAX = 255;
const PATH_MAX = 4096;
/** Symlinks followed in one lookup before ELOOP (Linux uses 40). */
const MAX_SYMLINK_FOLLOWS = 40;

export interface Mount {
  /** The name the guest sees for the preopen ("/", ".", "/data"...). */
  readonly guest: string;
  readonly root: DirNode;
}

/** Where a path leads: its final directory, last component, and what (if anything) that names. */
export interface Lookup {
  readonly dir: DirNode;
  /** Last component; "." or ".." when the path ends that way. */
  readonly name: string;
  readonly node: Node | undefined;
  /** The path ended with "/": the result must be a directory. */
  readonly slash: boolean;
}

const encoder = new TextEncoder();

export interface OpenOptions {
  /** Follow a symlink in the last component. */
  readonly follow: boolean;
  readonly create: boolean;
  readonly exclusive: boolean;
  /** Must be a directory (O_DIRECTORY). */
  readonly directory: boolean;
  /** Opened for writing or truncation (a directory then fails with EISDIR). */
  readonly write: boolean;
}

function splitPath(path: string): string[] {
  return path.split('/').filter((c) => c !== '');
}

export class VirtualFs {
  readonly mounts: Mount[] = [];
  nextIno = 1n;
  usedBytes = 0;
  nodeCount = 0;
  /** Open descriptors per node: an unlinked file's bytes are freed only when its last descriptor closes. */
  private readonly opens = new Map<Node, number>();
  /** Nodes already subtracted from the usage counters (so a late close does not subtract twice). */
  private readonly forgotten = new WeakSet<Node>();

  constructor(
    /** Source of file timestamps; never the wall clock (see WasiContext.fsTimeNs). */
    readonly now: () => bigint,
    readonly limits: FsLimits = DEFAULT_FS_LIMITS,
  ) {}

  // ---- inode allocation -------------------------------------------------------------------------------

  private takeIno(): bigint {
    if (this.nodeCount >= this.limits.maxNodes) fail(Errno.NOSPC);
    this.nodeCount++;
    return this.nextIno++;
  }

  newFile(content?: Uint8Array, timeNs = this.now()): FileNode {
    const size = content?.length ?? 0;
    if (size > this.limits.maxFileBytes) fail(Errno.FBIG);
    if (this.usedBytes + size > this.limits.maxBytes) fail(Errno.NOSPC);
    const f = new FileNode(this.takeIno(), timeNs, content);
    this.usedBytes += size;
    return f;
  }

  newDir(parent: DirNode | undefined, timeNs = this.now()): DirNode {
    return new DirNode(this.takeIno(), timeNs, parent);
  }

  newSymlink(target: string, timeNs = this.now()): SymlinkNode {
    return new SymlinkNode(this.takeIno(), timeNs, target);
  }

  addMount(guest: string, root: DirNode): void {
    this.mounts.push({ guest, root });
  }

  /** Changes a file's length within the quota. */
  setSize(file: FileNode, size: number): void {
    if (size > this.limits.maxFileBytes || size > Number.MAX_SAFE_INTEGER) fail(Errno.FBIG);
    const delta = size - file.size;
    if (delta > 0 && this.usedBytes + delta > this.limits.maxBytes) fail(Errno.NOSPC);
    file.resize(size);
    this.usedBytes += delta;
  }

  /** Writes bytes at `offset`, growing the file within the quota; updates mtime/ctime. */
  writeAt(file: FileNode, offset: number, data: Uint8Array): void {
    const end = offset + data.length;
    if (end > file.size) this.setSize(file, end);
    file.write(offset, data);
    if (data.length > 0) this.touch(file);
  }

  touch(node: Node): void {
    const t = this.now();
    node.mtimNs = t;
    node.ctimNs = t;
  }

  /**
   * Recomputes the usage counters from a node list (after import): nodes neither linked nor open were
   * already freed by the exporting host and are marked so.
   */
  recount(nodes: readonly Node[]): void {
    this.usedBytes = 0;
    this.nodeCount = 0;
    for (const n of nodes) {
      const linked = n.kind === InodeKind.Directory ? n.live : n.nlink > 0n;
      if (!linked && !this.opens.has(n)) {
        this.forgotten.add(n);
        continue;
      }
      this.nodeCount++;
      if (n.kind === InodeKind.File) this.usedBytes += n.size;
    }
  }

  // ---- open-descriptor accounting ---------------------------------------------------------------------

  retain(node: Node): void {
    this.opens.set(node, (this.opens.get(node) ?? 0) + 1);
  }

  release(node: Node): void {
    const n = (this.opens.get(node) ?? 0) - 1;
    if (n > 0) {
      this.opens.set(node, n);
      return;
    }
    this.opens.delete(node);
    this.forgetIfUnreachable(node);
  }

  private forgetIfUnreachable(node: Node): void {
    if (this.opens.has(node) || this.forgotten.has(node)) return;
    if (node.kind === InodeKind.File) {
      if (node.nlink > 0n) return;
      this.usedBytes -= node.size;
      this.nodeCount--;
    } else if (node.kind === InodeKind.Symlink) {
      if (node.nlink > 0n) return;
      this.nodeCount--;
    } else if (!node.live) {
      this.nodeCount--;
    } else {
      return;
    }
    this.forgotten.add(node);
  }

  // ---- path resolution --------------------------------------------------------------------------------

  /**
   * Resolves `path` relative to `start`, confined to `start`'s subtree: ".." above `start`, absolute paths
   * and absolute symlink targets fail with ENOTCAPABLE. Intermediate symlinks are always followed; the last
   * component is followed when `follow` is set, or when the path ends in "/" and `slashFollows` is set.
   */
  resolve(start: DirNode, path: string, follow: boolean, slashFollows = true): Lookup {
    if (path.length === 0) fail(Errno.NOENT);
    if (path.includes('\0')) fail(Errno.INVAL);
    if (encoder.encode(path).length > PATH_MAX) fail(Errno.NAMETOOLONG);
    if (path.startsWith('/')) fail(Errno.NOTCAPABLE);
    let slash = path.endsWith('/');
    let queue = splitPath(path);
    // Directories walked so far; the bottom one is the sandbox root of this lookup.
    const stack: DirNode[] = [start];
    let follows = 0;
    for (;;) {
      const c = queue.shift();
      const dir = stack[stack.length - 1];
      if (c === undefined) {
        // Only reachable when a symlink target had no components left ("" or "/" handled elsewhere).
        return { dir, name: '.', node: dir, slash: true };
      }
      if (encoder.encode(c).length > NAME_MAX) fail(Errno.NAMETOOLONG);
      const last = queue.length === 0;
      if (c === '.') {
        if (last) return { dir, name: '.', node: dir, slash };
        continue;
      }
      if (c === '..') {
        if (stack.length === 1) fail(Errno.NOTCAPABLE);
        stack.pop();
        if (last) {
          const up = stack[stack.length - 1];
          return { dir: up, name: '..', node: up, slash };
        }
        continue;
      }
      const child = dir.entries.get(c);
      if (child === undefined) {
        if (last) return { dir, name: c, node: undefined, slash };
        fail(Errno.NOENT);
      }
      if (child.kind === InodeKind.Symlink && (!last || follow || (slash && slashFollows))) {
        if (++follows > MAX_SYMLINK_FOLLOWS) fail(Errno.LOOP);
        const target = child.target;
        if (target.length === 0) fail(Errno.NOENT);
        if (target.startsWith('/')) fail(Errno.NOTCAPABLE);
        const parts = splitPath(target);
        if (last && target.endsWith('/')) slash = true;
        queue = parts.length === 0 ? ['.'] : [...parts, ...queue];
        continue;
      }
      if (last) return { dir, name: c, node: child, slash };
      if (child.kind !== InodeKind.Directory) fail(Errno.NOTDIR);
      stack.push(child);
    }
  }

  // ---- operations (each either completes or throws before changing anything) --------------------------

  private link(dir: DirNode, name: string, node: Node): void {
    if (!dir.live) fail(Errno.NOENT);
    dir.set(name, node);
    if (node.kind === InodeKind.Directory) node.parent = dir;
    else node.nlink++;
    this.touch(dir);
  }

  private unlinkEntry(dir: DirNode, name: string): void {
    const node = dir.entries.get(name);
    if (!node) return;
    dir.delete(name);
    if (node.kind === InodeKind.Directory) node.live = false;
    else {
      node.nlink--;
      node.ctimNs = this.now();
    }
    this.touch(dir);
    this.forgetIfUnreachable(node);
  }

  /** path_open's lookup/creation part. Rights are the caller's business. */
  open(start: DirNode, path: string, o: OpenOptions): { node: Node; created: boolean } {
    const lk = this.resolve(start, path, o.follow && !(o.create && o.exclusive));
    const node = lk.node;
    if (node === undefined) {
      if (!o.create) fail(Errno.NOENT);
      if (lk.slash || o.directory) fail(Errno.ISDIR);
      if (!lk.dir.live) fail(Errno.NOENT);
      const f = this.newFile();
      this.link(lk.dir, lk.name, f);
      return { node: f, created: true };
    }
    if (o.create && o.exclusive) fail(Errno.EXIST);
    if (node.kind === InodeKind.Symlink) fail(o.directory ? Errno.NOTDIR : Errno.LOOP);
    if (node.kind === InodeKind.File && (o.directory || lk.slash)) fail(Errno.NOTDIR);
    if (node.kind === InodeKind.Directory && o.write) fail(Errno.ISDIR);
    return { node, created: false };
  }

  mkdir(start: DirNode, path: string): void {
    const lk = this.resolve(start, path, false, false);
    if (lk.node !== undefined) fail(Errno.EXIST);
    if (!lk.dir.live) fail(Errno.NOENT);
    this.link(lk.dir, lk.name, this.newDir(lk.dir));
  }

  unlink(start: DirNode, path: string): void {
    const lk = this.resolve(start, path, false, false);
    const node = lk.node;
    if (node === undefined) fail(Errno.NOENT);
    if (node.kind === InodeKind.Directory) fail(Errno.ISDIR);
    if (lk.slash) fail(Errno.NOTDIR);
    this.unlinkEntry(lk.dir, lk.name);
  }

  rmdir(start: DirNode, path: string): void {
    const lk = this.resolve(start, path, false, false);
    const node = lk.node;
    if (node === undefined) fail(Errno.NOENT);
    if (lk.name === '.') fail(Errno.INVAL);
    if (lk.name === '..') fail(Errno.NOTEMPTY);
    if (node.kind !== InodeKind.Directory) fail(Errno.NOTDIR);
    if (node.entries.size > 0) fail(Errno.NOTEMPTY);
    this.unlinkEntry(lk.dir, lk.name);
  }

  symlink(target: string, start: DirNode, path: string): void {
    if (target.includes('\0')) fail(Errno.INVAL);
    if (encoder.encode(target).length > PATH_MAX) fail(Errno.NAMETOOLONG);
    // An absolute target could never be followed inside the sandbox; refuse it up front, as wasmtime does.
    if (target.startsWith('/')) fail(Errno.NOTCAPABLE);
    const lk = this.resolve(start, path, false, false);
    if (lk.node !== undefined) fail(Errno.EXIST);
    if (lk.slash) fail(Errno.NOENT);
    if (!lk.dir.live) fail(Errno.NOENT);
    this.link(lk.dir, lk.name, this.newSymlink(target));
  }

  hardlink(oldStart: DirNode, oldPath: string, follow: boolean, newStart: DirNode, newPath: string): void {
    const from = this.resolve(oldStart, oldPath, follow);
    const node = from.node;
    if (node === undefined) fail(Errno.NOENT);
    if (node.kind === InodeKind.Directory) fail(Errno.PERM);
    if (from.slash) fail(Errno.NOTDIR);
    const to = this.resolve(newStart, newPath, false, false);
    if (to.node !== undefined) fail(Errno.EXIST);
    if (to.slash) fail(Errno.NOENT);
    if (!to.dir.live) fail(Errno.NOENT);
    this.link(to.dir, to.name, node);
    node.ctimNs = this.now();
  }

  rename(oldStart: DirNode, oldPath: string, newStart: DirNode, newPath: string): void {
    const from = this.resolve(oldStart, oldPath, false, false);
    const node = from.node;
    if (node === undefined) fail(Errno.NOENT);
    if (from.name === '.' || from.name === '..') fail(Errno.BUSY);
    const isDir = node.kind === InodeKind.Directory;
    if (from.slash && !isDir) fail(Errno.NOTDIR);
    const to = this.resolve(newStart, newPath, false, false);
    if (to.name === '.' || to.name === '..') fail(Errno.BUSY);
    if (to.slash && !isDir) fail(Errno.NOTDIR);
    const existing = to.node;
    if (existing === node) return;
    if (existing !== undefined) {
      if (isDir) {
        if (existing.kind !== InodeKind.Directory) fail(Errno.NOTDIR);
        if (existing.entries.size > 0) fail(Errno.NOTEMPTY);
      } else if (existing.kind === InodeKind.Directory) {
        fail(Errno.ISDIR);
      }
    }
    if (isDir) {
      // A directory cannot move below itself.
      for (let d: DirNode = to.dir; ; d = d.parent) {
        if (d === node) fail(Errno.INVAL);
        if (d.parent === d) break;
      }
    }
    if (!to.dir.live) fail(Errno.NOENT);
    if (existing !== undefined) this.unlinkEntry(to.dir, to.name);
    from.dir.delete(from.name);
    this.touch(from.dir);
    to.dir.set(to.name, node);
    if (node.kind === InodeKind.Directory) node.parent = to.dir;
    node.ctimNs = this.now();
    this.touch(to.dir);
  }

  readlink(start: DirNode, path: string): string {
    const lk = this.resolve(start, path, false, false);
    if (lk.node === undefined) fail(Errno.NOENT);
    if (lk.node.kind !== InodeKind.Symlink) fail(lk.slash && lk.node.kind !== InodeKind.Directory ? Errno.NOTDIR : Errno.INVAL);
    if (lk.slash) fail(Errno.NOTDIR);
    return lk.node.target;
  }

  /** The node a path names (for stat, set_times). */
  lookup(start: DirNode, path: string, follow: boolean): Node {
    const lk = this.resolve(start, path, follow);
    if (lk.node === undefined) fail(Errno.NOENT);
    if (lk.slash && lk.node.kind !== InodeKind.Directory) fail(Errno.NOTDIR);
    return lk.node;
  }
}
