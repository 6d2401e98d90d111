/**
 * What a state digest covers, as deterministic bytes: the device state (descriptor table, inode metadata,
 * directory structure, unlinked-but-open file contents) and each reachable regular file's content keyed by
 * guest path. Two hosts that behave identically produce identical inputs; the machine hashes them.
 */
import { xxh64 } from '@node-rs/xxhash';
import { InodeKind } from './state.ts';
import type { Node } from './inode.ts';
import type { VirtualFs } from './fs.ts';
import type { FdTable } from './fdtable.ts';
import { reachableNodes } from './host-state.ts';

export interface DigestInput {
  /** Device state: fd table, next inode, every inode's metadata, links and (for unlinked files) bytes. */
  readonly devices: Uint8Array;
  /** Regular files by guest path (hard links appear under each name), in sorted path order. */
  readonly files: ReadonlyMap<string, Uint8Array>;
}

export interface WasiDigest {
  readonly devices: bigint;
  readonly files: ReadonlyMap<string, bigint>;
}

const encoder = new TextEncoder();

/** Append-only little-endian encoder; every variable-length item is length-prefixed, so no ambiguity. */
class ByteWriter {
  private chunks: Uint8Array[] = [];
  private size = 0;
  u8(v: number): void {
    this.push(Uint8Array.of(v & 0xff));
  }
  u32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    this.push(b);
  }
  u64(v: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
    this.push(b);
  }
  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.push(b);
  }
  str(s: string): void {
    this.bytes(encoder.encode(s));
  }
  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.size += b.length;
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

function joinGuest(mount: string, rel: string): string {
  if (rel === '') return mount;
  return mount.endsWith('/') ? mount + rel : `${mount}/${rel}`;
}

/** Regular files reachable from the mounts, by guest path. */
export function filesByPath(fs: VirtualFs): Map<string, Uint8Array> {
  const out: Array<[string, Uint8Array]> = [];
  fs.mounts.forEach((m) => {
    const stack: Array<[string, Node]> = [['', m.root]];
    while (stack.length > 0) {
      const [rel, n] = stack.pop()!;
      if (n.kind === InodeKind.File) out.push([joinGuest(m.guest, rel), n.content()]);
      else if (n.kind === InodeKind.Directory) {
        for (const [name, c] of n.entries) stack.push([rel === '' ? name : `${rel}/${name}`, c]);
      }
    }
  });
  out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return new Map(out);
}

export function digestInput(fs: VirtualFs, fds: FdTable): DigestInput {
  const w = new ByteWriter();
  w.u64(fs.nextIno);
  w.u32(fs.mounts.length);
  for (const m of fs.mounts) {
    w.str(m.guest);
    w.u64(m.root.ino);
  }
  const table = fds.sorted();
  w.u32(table.length);
  for (const [fd, d] of table) {
    w.u32(fd);
    w.u8(d.target);
    w.u64(d.node?.ino ?? 0n);
    w.str(d.preopen ?? '');
    w.u8(d.preopen === undefined ? 0 : 1);
    w.u64(d.rightsBase);
    w.u64(d.rightsInheriting);
    w.u32(d.flags);
    w.u64(d.offset);
  }
  const nodes = reachableNodes(fs, fds);
  w.u32(nodes.length);
  for (const n of nodes) {
    w.u64(n.ino);
    w.u8(n.kind);
    w.u64(n.nlink);
    w.u64(n.atimNs);
    w.u64(n.mtimNs);
    w.u64(n.ctimNs);
    if (n.kind === InodeKind.File) {
      w.u64(BigInt(n.size));
      // Linked files are covered per path; an unlinked open file has no path, so its bytes go here.
      if (n.nlink === 0n) w.bytes(n.content());
    } else if (n.kind === InodeKind.Directory) {
      w.u64(n.parent.ino);
      // Entry numbers (fd_readdir cookies) are state too, but only a directory that lost entries has other than
      // the canonical ones (index + 2): such a directory is marked (a count no directory can have) and gives
      // them, so every other directory digests as it always did.
      const canonical = n.canonicalNumbers;
      if (!canonical) {
        w.u32(0xffffffff);
        w.u64(n.nextNumber);
      }
      w.u32(n.entries.size);
      for (const [name, c] of n.entries) {
        w.str(name);
        w.u64(c.ino);
        if (!canonical) w.u64(n.numberOf(name));
      }
    } else {
      w.str(n.target);
    }
  }
  return { devices: w.finish(), files: filesByPath(fs) };
}

/** xxh64 of the digest input: one number for the devices, one per file. */
export function digestState(fs: VirtualFs, fds: FdTable): WasiDigest {
  const input = digestInput(fs, fds);
  const files = new Map<string, bigint>();
  for (const [path, content] of input.files) files.set(path, xxh64(content));
  return { devices: xxh64(input.devices), files };
}
