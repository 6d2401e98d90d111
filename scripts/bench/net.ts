/**
 * Network micro-benchmark: ws round-trip latency for small messages (what an output waits for under the ack rule)
 * and one-way throughput for 64 KiB messages (what log streaming and state transfer need), over loopback between
 * two processes, with authentication on and TCP_NODELAY as in production; also round trips paced 2 ms apart (the
 * floor under the pair's output hold time).
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Transport } from '../../engine/net/transport.ts';
import { listenWs } from '../../engine/net/ws.ts';

const PEER = fileURLToPath(new URL('./net-peer.ts', import.meta.url));

export interface NetBenchOptions {
  rttSamples?: number;
  rttMessageBytes?: number;
  /** Round trips paced 2 ms apart (idle event loops between them). */
  pacedSamples?: number;
  throughputBytes?: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The one reply the benchmark is waiting for (it never has two outstanding). */
let pending: ((m: Uint8Array) => void) | undefined;
function nextMessage(): Promise<Uint8Array> {
  return new Promise((resolve) => {
    pending = resolve;
  });
}

export async function benchNet(opts: NetBenchOptions = {}): Promise<Record<string, number>> {
  const rttSamples = opts.rttSamples ?? 5000;
  const rttBytes = opts.rttMessageBytes ?? 64;
  const pacedSamples = opts.pacedSamples ?? 2000;
  const chunk = 64 * 1024;
  const totalBytes = opts.throughputBytes ?? 512 * 1024 * 1024;
  const secret = randomBytes(32);
  const maxFrameBytes = 1024 * 1024;
  const listener = await listenWs({ secret, vmId: 'bench', role: 'primary', epoch: 1, maxFrameBytes });
  const accepted = new Promise<Transport>((resolve) => listener.onConnection(resolve));
  const child = fork(PEER, [listener.url, secret.toString('hex'), String(maxFrameBytes)], {
    execArgv: ['--import', 'tsx'],
    stdio: 'inherit',
  });
  const killTimer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  try {
    const t = await Promise.race([
      accepted,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('bench peer did not connect')), 30_000).unref()),
    ]);
    t.onMessage((m) => {
      const p = pending;
      pending = undefined;
      p?.(m);
    });

    // Round trips, one at a time, after a warm-up so JIT and socket buffers are settled; sorted, in µs.
    const ping = new Uint8Array(rttBytes);
    ping[0] = 1;
    const roundTrips = async (samples: number, warmUp: number, paceMs: number): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < samples + warmUp; i++) {
        if (paceMs > 0) await new Promise((r) => setTimeout(r, paceMs));
        const got = nextMessage();
        const t0 = process.hrtime.bigint();
        t.send(ping);
        await got;
        if (i >= warmUp) out.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      return out.sort((a, b) => a - b);
    };
    const rtts = await roundTrips(rttSamples, 500, 0);
    // Paced round trips: one every 2 ms, both event loops idle in between, as for the ticker guest whose
    // output hold time the pair bench reports. This is the floor under that figure on this host (an ack
    // release needs one such round trip, plus the work at both ends).
    const paced = await roundTrips(pacedSamples, 100, 2);

    // Throughput: keep the socket busy but bounded (bufferedBytes is the backpressure signal drivers use).
    const msg = new Uint8Array(chunk);
    msg[0] = 2;
    const count = Math.ceil(totalBytes / chunk);
    const highWaterBytes = 8 * 1024 * 1024;
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      while (t.bufferedBytes > highWaterBytes) await new Promise((r) => setImmediate(r));
      t.send(msg);
    }
    const report = nextMessage();
    t.send(Uint8Array.of(3));
    const r = await report;
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const received = new DataView(r.buffer, r.byteOffset, r.byteLength).getFloat64(1);
    if (received !== count * chunk) throw new Error(`bench peer received ${received} bytes, expected ${count * chunk}`);
    t.close();
    return {
      wsRttP50Us: Math.round(percentile(rtts, 50) * 10) / 10,
      wsRttP99Us: Math.round(percentile(rtts, 99) * 10) / 10,
      wsRttMeanUs: Math.round((rtts.reduce((a, b) => a + b, 0) / rtts.length) * 10) / 10,
      wsRttMessageBytes: rttBytes,
      wsRttPaced2msP50Us: Math.round(percentile(paced, 50) * 10) / 10,
      wsRttPaced2msP99Us: Math.round(percentile(paced, 99) * 10) / 10,
      wsThroughput64KiBMBps: Math.round((received / 1e6 / seconds) * 10) / 10,
    };
  } finally {
    clearTimeout(killTimer);
    await listener.close();
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(t);
    }
  }
}

// `tsx scripts/bench/net.ts` runs it alone.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(JSON.stringify(await benchNet(), null, 2));
}
