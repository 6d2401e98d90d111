/**
 * Conversion between the live host state (VirtualFs + FdTable) and WasiStateData, the plain data a
 * machine snapshot stores. import(export(x)) behaves exactly like x: same inodes, numbers, contents,
 * timestamps, entry order, descriptors, offsets, rights and flags.
 */
import { FdTarget, InodeKind, type FdData, type InodeData, type WasiStateData } from './state.ts';
import { DirNode, FIRST_ENTRY_COOKIE, FileNode, SymlinkNode, type Node } from './inode.ts';
import { DEFAULT_FS_LIMITS, VirtualFs, type FsLimits } from './fs.ts';
import { FdTable, type Descriptor } from './fdtable.ts';

/** Every node the state must hold: the mounted trees, open descriptors, and the parents of both. */
export function reachableNodes(fs: VirtualFs, fds: FdTable): Node[] {
  const seen = new Set<Node>();
  const visit = (n: Node): void => {
    // Iterative over a stack: deep trees must not overflow the JS stack.
    const stack: Node[] = [n];
    while (stack.length > 0) {
      const x = stack.pop()!;
      if (seen.has(x)) continue;
      seen.add(x);
      if (x.kind === InodeKind.Directory) {
        stack.push(x.parent);
        for (const c of x.entries.values()) stack.push(c);
      }
    }
  };
  for (const m of fs.mounts) visit(m.root);
  for (const [, d] of fds.sorted()) if (d.node) visit(d.node);
  return [...seen].sort((a, b) => (a.ino < b.ino ? -1 : a.ino > b.ino ? 1 : 0));
}

/** A directory's entries as data: numbers only where they are not canonical (see InodeData.entries). */
function dirEntriesData(d: DirNode): Pick<InodeData, 'entries' | 'nextNumber'> {
  let i = 0n;
  let last = FIRST_ENTRY_COOKIE - 1n;
  const entries = [...d.entries].map(([name, c]) => {
    const number = d.numberOf(name);
    last = number;
    return number === FIRST_ENTRY_COOKIE + i++ ? { name, ino: c.ino } : { name, ino: c.ino, number };
  });
  return { entries, ...(d.nextNumber !== last + 1n ? { nextNumber: d.nextNumber } : {}) };
}

/** Puts a directory's entries back with their numbers (canonical ones where the data has none). */
function restoreEntries(dir: DirNode, d: InodeData, node: (e: { name: string; ino: bigint }) => Node): void {
  let i = 0n;
  let last = FIRST_ENTRY_COOKIE - 1n;
  for (const e of d.entries ?? []) {
    const number = e.number ?? FIRST_ENTRY_COOKIE + i;
    if (number <= last) throw new Error(`WASI state: entry ${e.name} of ${d.ino} is numbered ${number}, not above the one before it (${last})`);
    dir.nextNumber = number;
    dir.set(e.name, node(e));
    last = number;
    i++;
  }
  const next = d.nextNumber ?? last + 1n;
  if (next <= last) throw new Error(`WASI state: directory ${d.ino} numbers its next entry ${next}, not above its last (${last})`);
  dir.nextNumber = next;
}

function inodeData(n: Node): InodeData {
  const base = { ino: n.ino, atimNs: n.atimNs, mtimNs: n.mtimNs, ctimNs: n.ctimNs };
  switch (n.kind) {
    case InodeKind.File:
      return { ...base, kind: InodeKind.File, nlink: n.nlink, data: n.content().slice() };
    case InodeKind.Directory:
      return {
        ...base,
        kind: InodeKind.Directory,
        nlink: n.nlink,
        parent: n.parent.ino,
        ...dirEntriesData(n),
      };
    default:
      return { ...base, kind: InodeKind.Symlink, nlink: n.nlink, target: n.target };
  }
}

export function exportState(fs: VirtualFs, fds: FdTable): WasiStateData {
  const inodes = reachableNodes(fs, fds).map(inodeData);
  const fdList: FdData[] = fds.sorted().map(([fd, d]) => ({
    fd,
    target: d.target,
    ...(d.node ? { ino: d.node.ino } : {}),
    ...(d.preopen !== undefined ? { preopen: d.preopen } : {}),
    rightsBase: d.rightsBase,
    rightsInheriting: d.rightsInheriting,
    flags: d.flags,
    offset: d.offset,
  }));
  return {
    inodes,
    fds: fdList,
    nextIno: fs.nextIno,
    mounts: fs.mounts.map((m) => ({ guest: m.guest, ino: m.root.ino })),
  };
}

/** Rebuilds the host state; throws an Error on inconsistent data (a corrupt snapshot is a host bug). */
export function importState(state: WasiStateData, now: () => bigint, limits: FsLimits = DEFAULT_FS_LIMITS): { fs: VirtualFs; fds: FdTable } {
  const byIno = new Map<bigint, Node>();
  for (const d of state.inodes) {
    if (byIno.has(d.ino)) throw new Error(`WASI state: duplicate inode ${d.ino}`);
    let n: Node;
    if (d.kind === InodeKind.File) {
      const f = new FileNode(d.ino, 0n, d.data ?? new Uint8Array(0));
      f.nlink = d.nlink;
      n = f;
    } else if (d.kind === InodeKind.Directory) {
      const dir = new DirNode(d.ino, 0n);
      dir.live = d.nlink > 0n;
      n = dir;
    } else if (d.kind === InodeKind.Symlink) {
      const s = new SymlinkNode(d.ino, 0n, d.target ?? '');
      s.nlink = d.nlink;
      n = s;
    } else {
      throw new Error(`WASI state: inode ${d.ino} has unknown kind ${d.kind as number}`);
    }
    n.atimNs = d.atimNs;
    n.mtimNs = d.mtimNs;
    n.ctimNs = d.ctimNs;
    byIno.set(d.ino, n);
  }
  const get = (ino: bigint, what: string): Node => {
    const n = byIno.get(ino);
    if (!n) throw new Error(`WASI state: ${what} refers to missing inode ${ino}`);
    return n;
  };
  for (const d of state.inodes) {
    if (d.kind !== InodeKind.Directory) continue;
    const dir = byIno.get(d.ino) as DirNode;
    const parent = d.parent === undefined ? dir : get(d.parent, `parent of ${d.ino}`);
    if (parent.kind !== InodeKind.Directory) throw new Error(`WASI state: parent of ${d.ino} is not a directory`);
    dir.parent = parent;
    restoreEntries(dir, d, (e) => get(e.ino, `entry ${e.name} of ${d.ino}`));
  }

  const fs = new VirtualFs(now, limits);
  fs.nextIno = state.nextIno;
  const mounts = state.mounts ?? state.fds.filter((f) => f.preopen !== undefined && f.ino !== undefined).map((f) => ({ guest: f.preopen!, ino: f.ino! }));
  for (const m of mounts) {
    const root = get(m.ino, `mount ${m.guest}`);
    if (root.kind !== InodeKind.Directory) throw new Error(`WASI state: mount ${m.guest} is not a directory`);
    fs.addMount(m.guest, root);
  }

  const fds = new FdTable();
  for (const f of state.fds) {
    const d: Descriptor = {
      target: f.target,
      rightsBase: f.rightsBase,
      rightsInheriting: f.rightsInheriting,
      flags: f.flags,
      offset: f.offset,
    };
    if (f.target === FdTarget.Inode) {
      if (f.ino === undefined) throw new Error(`WASI state: fd ${f.fd} has no inode`);
      d.node = get(f.ino, `fd ${f.fd}`);
      fs.retain(d.node);
    }
    if (f.preopen !== undefined) d.preopen = f.preopen;
    fds.set(f.fd, d);
  }
  fs.recount([...byIno.values()]);
  return { fs, fds };
}
