/**
 * State digests: xxh64 per 4 KiB page of linear memory, a digest of the device state and file system, and a
 * root over them. Two replicas in the same state have the same root; page digests say WHICH pages differ
 * (incremental checkpoints, resync diffs), per-file digests which files of the virtual disk differ.
 */
import { xxh64 } from '@node-rs/xxhash';
import { PAGE_BYTES, type StateDigest } from '../machine/machine.ts';
import { InodeKind, type WasiStateData } from '../wasi/state.ts';

export function pageDigests(memory: Uint8Array): BigUint64Array {
  const count = Math.ceil(memory.length / PAGE_BYTES);
  const out = new BigUint64Array(count);
  const buf = Buffer.from(memory.buffer, memory.byteOffset, memory.byteLength);
  for (let i = 0; i < count; i++) out[i] = xxh64(buf.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES));
  return out;
}

/** Guest path → content digest for every regular file reachable from a preopen. */
export function fileDigests(wasi: WasiStateData): Map<string, bigint> {
  const byIno = new Map(wasi.inodes.map((n) => [n.ino, n]));
  const out = new Map<string, bigint>();
  const walk = (ino: bigint, path: string, depth: number): void => {
    const node = byIno.get(ino);
    if (!node || depth > 4096) return;
    if (node.kind === InodeKind.File) out.set(path, xxh64(fileBytes(node.data)));
    else if (node.kind === InodeKind.Directory) for (const e of node.entries ?? []) walk(e.ino, `${path}/${e.name}`, depth + 1);
  };
  const seen = new Set<bigint>();
  for (const fd of wasi.fds) {
    if (fd.preopen === undefined || fd.ino === undefined || seen.has(fd.ino)) continue;
    seen.add(fd.ino);
    walk(fd.ino, fd.preopen.replace(/\/+$/, ''), 0);
  }
  return out;
}

function fileBytes(data: Uint8Array | undefined): Buffer {
  return data ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.alloc(0);
}

/** Canonical bytes of the device state (fd table, inode metadata, file contents by digest). */
export function deviceBytes(wasi: WasiStateData, globals: ReadonlyArray<number | bigint>, fsTimeNs: bigint): Buffer {
  const parts: string[] = [];
  parts.push(`t${fsTimeNs};n${wasi.nextIno}`);
  for (const g of globals) parts.push(`g${typeof g === 'bigint' ? g.toString() + 'n' : Object.is(g, -0) ? '-0' : String(g)}`);
  for (const n of [...wasi.inodes].sort((a, b) => (a.ino < b.ino ? -1 : a.ino > b.ino ? 1 : 0))) {
    const body =
      n.kind === InodeKind.File ? `h${xxh64(fileBytes(n.data))}` :
      n.kind === InodeKind.Directory ? `p${n.parent};${(n.entries ?? []).map((e) => `${JSON.stringify(e.name)}=${e.ino}${e.number !== undefined ? `#${e.number}` : ''}`).join(',')}${n.nextNumber !== undefined ? `;next${n.nextNumber}` : ''}` :
      `l${JSON.stringify(n.target ?? '')}`;
    parts.push(`i${n.ino}k${n.kind}l${n.nlink}a${n.atimNs}m${n.mtimNs}c${n.ctimNs}${body}`);
  }
  for (const f of [...wasi.fds].sort((a, b) => a.fd - b.fd)) {
    parts.push(`f${f.fd}t${f.target}i${f.ino ?? ''}p${JSON.stringify(f.preopen ?? null)}r${f.rightsBase}/${f.rightsInheriting}x${f.flags}o${f.offset}`);
  }
  return Buffer.from(parts.join('\n'));
}

/** `pages` may be passed when the caller already hashed this memory (a snapshot has). */
/** The device digest without the guest's globals: the disk and descriptors as any build of the guest finds them. */
export function diskOnlyDigest(wasi: WasiStateData, fsTimeNs: bigint): bigint {
  return xxh64(deviceBytes(wasi, [], fsTimeNs));
}

export function stateDigest(memory: Uint8Array, globals: ReadonlyArray<number | bigint>, wasi: WasiStateData, fsTimeNs: bigint, pages = pageDigests(memory)): StateDigest {
  const devices = xxh64(deviceBytes(wasi, globals, fsTimeNs));
  const rootInput = Buffer.alloc(pages.byteLength + 8);
  rootInput.set(new Uint8Array(pages.buffer, pages.byteOffset, pages.byteLength), 0);
  rootInput.writeBigUInt64LE(devices, pages.byteLength);
  return { root: xxh64(rootInput), pages, devices, files: fileDigests(wasi) };
}
