/**
 * The process's Binaryen child (instrument-child.mjs says why Binaryen runs in a process of its own): started
 * on the first job, kept for later ones (Binaryen loads once), and never keeping this process alive by itself:
 * its handles are referenced only while a job is under way. Jobs run one at a time, in order. A child that dies
 * fails the jobs it had with E_INSTRUMENT and its last words; the next job starts a new one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MachineError, type MachineErrorCode } from '../machine/errors.ts';
import { ROOT_URL } from '../root.ts';

/** The child's module (exported for the spec of the command line's bundle). */
export const INSTRUMENT_CHILD = fileURLToPath(new URL('engine/wasi/instrument-child.mjs', ROOT_URL));

export type BinaryenJob =
  | { op: 'instrument'; in: string; out: string; unwindable: string[]; wasiModule: string; globalPrefix: string }
  | { op: 'wat'; text: string; features: number; out: string };

export interface BinaryenReply {
  readonly id: number;
  readonly error?: { readonly code: string; readonly message: string };
  readonly [field: string]: unknown;
}

interface Child {
  readonly proc: ChildProcess;
  readonly pending: Map<number, { resolve: (r: BinaryenReply) => void; reject: (e: Error) => void }>;
  out: string;
  err: string;
}

let current: Child | undefined;
let nextId = 1;

/** References the child's handles while it has jobs (this process then waits for them), and drops them after. */
function hold(c: Child, busy: boolean): void {
  for (const h of [c.proc, c.proc.stdin, c.proc.stdout, c.proc.stderr] as Array<{ ref?: () => void; unref?: () => void } | null>) {
    if (busy) h?.ref?.();
    else h?.unref?.();
  }
}

function start(): Child {
  // Node's defaults: no NODE_OPTIONS (a TypeScript loader there is what made Binaryen slow to load).
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const proc = spawn(process.execPath, [INSTRUMENT_CHILD], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const c: Child = { proc, pending: new Map(), out: '', err: '' };
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    c.out += d;
    for (let nl = c.out.indexOf('\n'); nl >= 0; nl = c.out.indexOf('\n')) {
      const line = c.out.slice(0, nl);
      c.out = c.out.slice(nl + 1);
      let reply: BinaryenReply;
      try {
        reply = JSON.parse(line) as BinaryenReply;
      } catch {
        continue;
      }
      const waiter = c.pending.get(reply.id);
      c.pending.delete(reply.id);
      waiter?.resolve(reply);
    }
    if (c.pending.size === 0) hold(c, false);
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    c.err = (c.err + d).slice(-2000);
  });
  const died = (why: string): void => {
    if (current === c) current = undefined;
    const last = c.err.trim().split('\n').slice(-3).join(' | ');
    for (const w of c.pending.values()) w.reject(new MachineError('E_INSTRUMENT', `the Binaryen process ${why}${last ? `: ${last}` : ''}`));
    c.pending.clear();
  };
  proc.on('error', (e) => died(`could not run (${e.message})`));
  proc.on('close', (code, signal) => died(signal ? `was killed by ${signal}` : `exited with ${code}`));
  // A write to a child that died meanwhile: its close event fails the jobs.
  proc.stdin!.on('error', () => {});
  return c;
}

/** Runs one job in the Binaryen child; a reply with `error` is the job's failure, for the caller to raise. */
export function binaryenJob(job: BinaryenJob): Promise<BinaryenReply> {
  const c = (current ??= start());
  const id = nextId++;
  return new Promise<BinaryenReply>((resolve, reject) => {
    c.pending.set(id, { resolve, reject });
    hold(c, true);
    c.proc.stdin!.write(JSON.stringify({ id, ...job }) + '\n');
  });
}

/** The child process while there is one (tests, diagnostics). */
export function binaryenChild(): ChildProcess | undefined {
  return current?.proc;
}

/** A job's error reply as a MachineError (the child's codes are MachineError codes, or E_INSTRUMENT). */
export function jobError(error: { code: string; message: string }): MachineError {
  return new MachineError(error.code as MachineErrorCode, error.message);
}
