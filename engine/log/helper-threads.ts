/**
 * The process's helper threads (session-thread.ts): the trace encoder of `twinstep record` and the decoder of
 * `twinstep replay`. Until its thread is up, a recording or replay does that work in its own thread. A thread
 * comes up in about 80 ms on the bench host: its worker is one bundled JavaScript module (schema/generated/
 * workers/, made by `npm run schema`); through the TypeScript loader it took 300-400 ms. A writer or reader starts
 * the thread itself once its work is worth it (trace-offload.ts; trace-read-offload.ts, from 88 MiB of trace when
 * the thread is not running yet); an embedder that knows a long recording or replay is coming can start it sooner
 * (startHelperThread), so that the work is handed over from its first entry.
 *
 * The CLI does so only for a replay of several traces that are long together. When the threads booted through the
 * TypeScript loader, a thread started with the process competed with the CLI's own loading on the bench host and
 * made a short `record` or `replay` 0.2-0.25 s slower (hello.wasm: 0.96-1.02 s against 0.70-0.75), while a 2M-call
 * recording or replay gained nothing measurable.
 */
import { SessionThread } from './session-thread.ts';
import { ROOT_URL } from '../root.ts';

export const ENCODER_BOOT = new URL('engine/log/trace-worker-boot.mjs', ROOT_URL);
export const DECODER_BOOT = new URL('engine/log/trace-read-worker-boot.mjs', ROOT_URL);

/** Starts the process's encoder or decoder thread now, if it is not running (does not wait for it). */
export function startHelperThread(which: 'encoder' | 'decoder'): void {
  SessionThread.get(which === 'encoder' ? ENCODER_BOOT : DECODER_BOOT);
}
