/**
 * The far end for spec/net/stand-in.spec.ts, in a process of its own: it must go on receiving while the test's
 * thread is busy. `listen` serves one connection and prints its url; `connect URL` dials the test's listener.
 * Every message that arrives is recorded (when, how long, its first bytes as text, its SHA-1); on the IPC command
 * 'report' the records go back to the test; 'exit' ends the process.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connectWs, listenWs } from '../../engine/net/ws.ts';
import type { Transport } from '../../engine/net/transport.ts';

const [mode, secretHex, url] = process.argv.slice(2);
const auth = { secret: Buffer.from(secretHex!, 'hex'), vmId: 'stand-in', epoch: 1 };
const arrivals: Array<{ atMs: number; bytes: number; head: string; sha1: string }> = [];
let closedWith: string | undefined;

function record(t: Transport): void {
  t.onMessage((m) => {
    arrivals.push({ atMs: performance.now(), bytes: m.byteLength, head: Buffer.from(m.subarray(0, 32)).toString('latin1'), sha1: createHash('sha1').update(m).digest('hex') });
  });
  t.onClose((err) => (closedWith = err ? `${err.code}: ${err.message}` : 'clean'));
}

if (mode === 'listen') {
  const l = await listenWs({ ...auth, role: 'secondary', host: '127.0.0.1', port: 0 });
  l.onConnection(record);
  process.send!({ url: l.url });
} else {
  record(await connectWs(url!, { ...auth, role: 'secondary' }));
  process.send!({ connected: true });
}
process.on('message', (cmd: string) => {
  if (cmd === 'report') process.send!({ arrivals, closedWith });
  if (cmd === 'exit') process.exit(0);
});
