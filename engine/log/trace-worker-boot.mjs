// Entry point of the trace encoder thread (engine/log/trace-offload.ts). It loads the worker (trace-worker.ts)
// bundled into one JavaScript module by `npm run schema` (drift-checked by a test like the rest of
// schema/generated): through the TypeScript loader the thread took 300-400 ms to come up on the bench host (and
// tsx's faster CommonJS hook made the code it loaded run slower), bundled it takes about 80.
await import('../../schema/generated/workers/trace-worker.mjs');
