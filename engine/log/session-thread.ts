/**
 * A helper thread of the process (the trace encoder, the trace decoder): started on first need from a boot
 * file, kept (unref'd) for later work so a process that records or replays repeatedly pays its start-up
 * once, and shared by sessions (one per trace being written or read), whose messages carry their id.
 *
 * The thread says it is up through a shared cell; until then callers do the work in their own thread. A
 * thread that fails or exits counts as never up. Replies are read synchronously (receiveMessageOnPort):
 * the callers run inside host calls, where nothing can be awaited.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';

/** Cell of the ready array the boot file's worker sets to 1 once it listens. */
export const CTRL_READY = 0;

export class SessionThread<In extends { s: number }, Out extends { s: number }> {
  private static readonly instances = new Map<string, SessionThread<{ s: number }, { s: number }>>();
  readonly port: MessagePort;
  private readonly readyCell: Int32Array;
  private readonly mailbox = new Map<number, Out[]>();
  private nextSession = 1;
  private dead = false;

  /** The process's thread for this boot file (started now if it is not running). */
  static get<In extends { s: number }, Out extends { s: number }>(boot: URL): SessionThread<In, Out> {
    let t = SessionThread.instances.get(boot.href);
    if (t === undefined) {
      t = new SessionThread(boot);
      SessionThread.instances.set(boot.href, t);
    }
    return t as unknown as SessionThread<In, Out>;
  }

  /** True when this process's thread for the boot file was started and has not died (up or still booting). */
  static started(boot: URL): boolean {
    return SessionThread.instances.get(boot.href)?.alive ?? false;
  }

  /** True when this process's thread for the boot file is already up (does not start one). */
  static readyNow(boot: URL): boolean {
    return SessionThread.instances.get(boot.href)?.ready ?? false;
  }

  private constructor(boot: URL) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const ready = new SharedArrayBuffer(4);
    this.readyCell = new Int32Array(ready);
    try {
      const worker = new Worker(boot, {
        workerData: { port: port2, ready },
        transferList: [port2],
        // The boot file registers the TypeScript loader itself; inheriting the parent's flags would do it twice.
        execArgv: [],
      });
      worker.unref();
      worker.on('error', () => {
        this.dead = true;
      });
      worker.on('exit', () => {
        this.dead = true;
      });
    } catch {
      this.dead = true;
    }
  }

  get ready(): boolean {
    return !this.dead && Atomics.load(this.readyCell, CTRL_READY) === 1;
  }

  /** False once the thread failed or exited. */
  get alive(): boolean {
    return !this.dead;
  }

  session(): number {
    return this.nextSession++;
  }

  post(m: In, transfer?: ArrayBuffer[]): void {
    this.port.postMessage(m, transfer);
  }

  /** The next message for session `s`, if one has arrived (messages for other sessions are kept for them). */
  reply(s: number): Out | undefined {
    for (;;) {
      const queue = this.mailbox.get(s);
      if (queue !== undefined && queue.length > 0) {
        const m = queue.shift()!;
        if (queue.length === 0) this.mailbox.delete(s);
        return m;
      }
      const got = receiveMessageOnPort(this.port);
      if (got === undefined) return undefined;
      const r = got.message as Out;
      if (r.s === s) return r;
      const q = this.mailbox.get(r.s);
      if (q) q.push(r);
      else this.mailbox.set(r.s, [r]);
    }
  }

  /** Drops whatever is still queued for a finished session. */
  forget(s: number): void {
    this.mailbox.delete(s);
  }
}
