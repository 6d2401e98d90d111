// Entry point of the trace decoder thread (engine/log/trace-read-offload.ts): the thread starts without the
// TypeScript loader, so it registers it before loading the worker itself (with tsx's ESM loader, as the encoder
// thread does: trace-worker-boot.mjs says why).
import { register } from 'tsx/esm/api';

register();
await import('./trace-read-worker.ts');
