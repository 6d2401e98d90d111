/** Small seeded PRNG (mulberry32) so a failing randomized test can print its seed and rerun exactly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seed from TWINSTEP_SEED if set (to rerun a failure), else a fresh one. */
export function testSeed(): number {
  const env = process.env['TWINSTEP_SEED'];
  return env ? Number(env) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
}
