/**
 * A throwaway etcd for tests: loopback only, temp data dir, random free ports, stopped (and its data dir removed)
 * by stop(). Missing etcd is a test failure, not a skip, because CI must exercise the etcd backend.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EtcdServer {
  readonly url: string;
  stop(): Promise<void>;
}

const missing = (bin: string): string =>
  `etcd server binary '${bin}' not found: apt-get install etcd-server (or set TWINSTEP_ETCD to its path)`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startEtcd(
  bin = process.env['TWINSTEP_ETCD'] ?? 'etcd',
  startTimeoutMs = 20_000,
): Promise<EtcdServer> {
  // The free-port probe can race with other processes; a failed start is retried on new ports.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(bin, startTimeoutMs);
    } catch (err) {
      if (err instanceof Error && err.message === missing(bin)) throw err;
      lastError = err;
    }
  }
  throw lastError;
}

async function startOnce(bin: string, startTimeoutMs: number): Promise<EtcdServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'twinstep-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const url = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const child: ChildProcess = spawn(
    bin,
    [
      '--name', 'twinstep-test',
      '--data-dir', dataDir,
      '--listen-client-urls', url,
      '--advertise-client-urls', url,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `twinstep-test=${peer}`,
      '--log-level', 'error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new Error(missing(bin)) : err)),
  );

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  try {
    await Promise.race([spawnError, waitHealthy(url, startTimeoutMs, () => child.exitCode !== null, () => stderr)]);
  } catch (err) {
    await stop();
    throw err;
  }
  spawnError.catch(() => undefined);
  return { url, stop };
}

async function waitHealthy(url: string, timeoutMs: number, dead: () => boolean, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (dead()) throw new Error(`etcd exited during start: ${log()}`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      if (body.health === 'true') return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`etcd at ${url} not healthy after ${timeoutMs} ms: ${log()}`);
}
