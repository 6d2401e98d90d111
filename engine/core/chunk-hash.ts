/**
 * Default integrity hash for state chunks: two FNV-1a 32-bit lanes with different offsets, joined into 64 bits.
 * Pure and dependency-free so the core stays free of I/O and native modules; a driver normally passes xxh64.
 * Not cryptographic: it catches corruption, authentication is the transport's job.
 */
export type ChunkHash = (bytes: Uint8Array) => bigint;

export const fnv1a64: ChunkHash = (bytes) => {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < bytes.length; i++) {
    a = Math.imul(a ^ bytes[i]!, 0x01000193);
    b = Math.imul(b ^ bytes[i]!, 0x01000193) ^ (a >>> 15);
  }
  return (BigInt(a >>> 0) << 32n) | BigInt(b >>> 0);
};
