// Entry point of the trace encoder thread (engine/log/trace-offload.ts): the thread starts without the
// TypeScript loader, so it registers it before loading the worker itself.
import { register } from 'tsx/esm/api';

register();
await import('./trace-worker.ts');
