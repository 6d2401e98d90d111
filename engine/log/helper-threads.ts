/**
 * The process's helper threads (session-thread.ts): the trace encoder of `twinstep record` and the decoder of
 * `twinstep replay`. Until its thread is up, a recording or replay does that work in its own thread, several
 * times slower; booting a thread takes a few hundred ms (loading the TypeScript loader and the codec), about
 * what the CLI takes to load itself and compile the guest. So the CLI starts the thread its command will use
 * first thing (startHelperThread), and the two boots overlap.
 */
import { SessionThread } from './session-thread.ts';

export const ENCODER_BOOT = new URL('./trace-worker-boot.mjs', import.meta.url);
export const DECODER_BOOT = new URL('./trace-read-worker-boot.mjs', import.meta.url);

/** Starts the process's encoder or decoder thread now, if it is not running (does not wait for it). */
export function startHelperThread(which: 'encoder' | 'decoder'): void {
  SessionThread.get(which === 'encoder' ? ENCODER_BOOT : DECODER_BOOT);
}
