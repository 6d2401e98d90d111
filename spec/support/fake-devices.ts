/**
 * Deterministic stand-ins for the live devices: a virtual clock that advances on every read and sleep,
 * seeded pseudo-random bytes (splitmix64), and a fixed stdin. Tests print the seed on failure.
 */
import type { Devices } from '../../engine/wasi/context.ts';

export interface FakeDevices extends Devices {
  readonly seed: number;
}

export function fakeDevices(seed: number, stdin: Uint8Array = new Uint8Array(0)): FakeDevices {
  let state = BigInt(seed) & 0xffffffffffffffffn;
  const next = (): bigint => {
    state = (state + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
    return z ^ (z >> 31n);
  };
  let nowNs = 1_700_000_000_000_000_000n + BigInt(seed) * 1_000_000n;
  let stdinPos = 0;
  return {
    seed,
    clockNs(id: number): bigint {
      nowNs += 1_000n + (next() % 1000n);
      return id === 0 ? nowNs : nowNs - 1_700_000_000_000_000_000n;
    },
    random(n: number): Uint8Array {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i += 8) {
        const v = next();
        for (let j = 0; j < 8 && i + j < n; j++) out[i + j] = Number((v >> BigInt(8 * j)) & 0xffn);
      }
      return out;
    },
    stdinRead(max: number): Uint8Array {
      const out = stdin.subarray(stdinPos, Math.min(stdin.length, stdinPos + max));
      stdinPos += out.length;
      return out.slice();
    },
    stdinReady: () => true,
    sleepNs(ns: bigint): void {
      nowNs += ns;
    },
  };
}
