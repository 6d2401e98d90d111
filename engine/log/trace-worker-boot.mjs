// Entry point of the trace encoder thread (engine/log/trace-offload.ts): the thread starts without the
// TypeScript loader, so it registers it before loading the worker itself. (tsx's CommonJS hook boots the thread
// faster, but code loaded through it ran measurably slower: the pair's secondary took 2.35-2.47 s instead of
// 1.78-1.86 for the same replay.)
import { register } from 'tsx/esm/api';

register();
await import('./trace-worker.ts');
