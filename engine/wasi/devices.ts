/**
 * The live devices of the CLI: real clocks, real entropy, the process's stdin, real sleeping.
 * This is the ONLY module of the engine allowed to read the wall clock or randomness; everything it
 * returns reaches the guest through ctx.input, so a recording captures it and a replay never calls it.
 */
import { closeSync, fstatSync, openSync, read, readSync, constants as fsc, type Stats } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import type { Devices } from './context.ts';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** random(): requests up to RANDOM_POOLED_MAX bytes come from a RANDOM_POOL_BYTES pool, larger ones directly. */
const RANDOM_POOL_BYTES = 4096;
const RANDOM_POOLED_MAX = 256;

/** Blocks the thread (no event loop turn: host calls are synchronous). */
function sleepMs(ms: number): void {
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
}

function isAgain(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
}

export interface LiveDevicesOptions {
  /** Descriptor to read stdin from (default 0). */
  readonly stdinFd?: number;
}

/**
 * The monotonic clock in ns, taken once: `process` keeps its properties in dictionary mode, so looking up
 * `process.hrtime` on every read cost about 25 ns (a third of a clock read), on the most frequent host call of
 * many guests.
 */
const monotonicNs: () => bigint = process.hrtime.bigint;

export function liveDevices(options: LiveDevicesOptions = {}): Devices {
  const stdinFd = options.stdinFd ?? 0;
  // Realtime with nanosecond resolution: the wall clock read once, advanced by the monotonic clock, so
  // consecutive realtime readings never go backwards within a run (NTP steps are not followed).
  const anchorMono = monotonicNs();
  const anchorReal = BigInt(Date.now()) * 1_000_000n;
  // Bytes taken from stdin by a readiness probe or a background read, handed out by the next stdinRead.
  let peeked: Uint8Array = new Uint8Array(0);
  let eofSeen = false;
  // A background read (stdinFill) is out: nothing else reads stdin meanwhile, so bytes keep their order.
  let filling = false;
  let fillWaiters: Array<() => void> = [];
  const append = (b: Uint8Array): void => {
    const all = new Uint8Array(peeked.length + b.length);
    all.set(peeked);
    all.set(b, peeked.length);
    peeked = all;
  };
  /** stdin is a regular file or /dev/null (or cannot be looked at): a read never waits. */
  const fileLike = (st: Stats | undefined): boolean => !st || st.isFile() || (st.isCharacterDevice() && st.rdev === 0x103);
  const stdinStat = (): Stats | undefined => {
    try {
      return fstatSync(stdinFd);
    } catch {
      return undefined;
    }
  };
  // Entropy pool for small random() requests (see random()); randomAt: the first byte not handed out yet.
  const randomPool = new Uint8Array(RANDOM_POOL_BYTES);
  let randomAt = RANDOM_POOL_BYTES;

  const readBlocking = (max: number): Uint8Array => {
    const buf = Buffer.alloc(max);
    for (;;) {
      try {
        const n = readSync(stdinFd, buf, 0, max, null);
        if (n === 0) eofSeen = true;
        return new Uint8Array(buf.buffer, buf.byteOffset, n).slice();
      } catch (e) {
        // A non-blocking stdin (inherited O_NONBLOCK) reports EAGAIN: wait briefly and retry, since the
        // contract is "block until at least one byte or EOF".
        if (isAgain(e)) {
          sleepMs(2);
          continue;
        }
        if ((e as NodeJS.ErrnoException).code === 'EOF') {
          eofSeen = true;
          return new Uint8Array(0);
        }
        throw e;
      }
    }
  };

  /**
   * Best-effort readiness without blocking: regular files and /dev/null are always ready; for pipes,
   * FIFOs and terminals we open a second, non-blocking description of the same object
   * (/proc/self/fd/N, Linux) and try to read, keeping what we got for the next stdinRead. Where that is
   * impossible (sockets, no /proc) we answer "ready", so poll_oneoff returns and the read then blocks.
   */
  const probe = (): boolean => {
    if (peeked.length > 0 || eofSeen) return true;
    if (filling) return false;
    const st = stdinStat();
    if (!st || fileLike(st)) return true;
    if (!st.isFIFO() && !st.isCharacterDevice()) return true;
    let fd: number;
    try {
      fd = openSync(`/proc/self/fd/${stdinFd}`, fsc.O_RDONLY | fsc.O_NONBLOCK);
    } catch {
      return true;
    }
    try {
      const buf = Buffer.alloc(65536);
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) {
        eofSeen = true;
        return true;
      }
      peeked = new Uint8Array(buf.buffer, buf.byteOffset, n).slice();
      return true;
    } catch (e) {
      return !isAgain(e);
    } finally {
      closeSync(fd);
    }
  };

  return {
    clockNs(id: number): bigint {
      switch (id) {
        case 0:
          return anchorReal + (monotonicNs() - anchorMono);
        case 1:
          return monotonicNs();
        default: {
          // Process and thread CPU time: Node runs the guest on this one thread, so they coincide.
          const u = process.cpuUsage();
          return BigInt(u.user + u.system) * 1000n;
        }
      }
    },
    random(n: number): Uint8Array {
      const out = new Uint8Array(n);
      if (n <= RANDOM_POOLED_MAX) {
        // Small requests are served from a pool filled by the CSPRNG: a randomFillSync call costs microseconds
        // whatever its size. Every pool byte is handed out once, copied into the caller's array, and wiped.
        if (randomAt + n > randomPool.length) {
          randomFillSync(randomPool);
          randomAt = 0;
        }
        for (let i = 0; i < n; i++) out[i] = randomPool[randomAt + i];
        randomPool.fill(0, randomAt, randomAt + n);
        randomAt += n;
        return out;
      }
      // randomFillSync accepts at most 2^31-1 bytes per call.
      for (let at = 0; at < n; at += 1 << 30) randomFillSync(out, at, Math.min(1 << 30, n - at));
      return out;
    },
    stdinRead(max: number): Uint8Array {
      if (max <= 0) return new Uint8Array(0);
      if (peeked.length > 0) {
        const out = peeked.subarray(0, max).slice();
        peeked = peeked.subarray(out.length);
        return out;
      }
      if (eofSeen) return new Uint8Array(0);
      return readBlocking(max);
    },
    stdinReady: probe,
    stdinBuffered(): boolean {
      return peeked.length > 0 || eofSeen || (!filling && fileLike(stdinStat()));
    },
    stdinFill(done: () => void): void {
      if (peeked.length > 0 || eofSeen) return done();
      fillWaiters.push(done);
      if (filling) return;
      filling = true;
      const buf = Buffer.alloc(65536);
      // On the thread pool: a pipe, terminal or socket with nothing to read blocks a pool thread, not this one.
      const once = (): void =>
        read(stdinFd, buf, 0, buf.length, null, (err, n) => {
          if (err && isAgain(err)) {
            setTimeout(once, 5); // a non-blocking stdin: look again shortly
            return;
          }
          filling = false;
          if (err || n === 0) eofSeen = true;
          else append(new Uint8Array(buf.buffer, buf.byteOffset, n).slice());
          const waiting = fillWaiters;
          fillWaiters = [];
          for (const w of waiting) w();
        });
      once();
    },
    sleepNs(ns: bigint): void {
      // Atomics.wait takes milliseconds (fractions allowed); long sleeps go in slices to stay in range.
      let left = ns;
      while (left > 0n) {
        const slice = left > 1_000_000_000_000n ? 1_000_000_000_000n : left;
        sleepMs(Number(slice) / 1e6);
        left -= slice;
      }
    },
  };
}
