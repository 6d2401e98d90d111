// Entry point of the trace decoder thread (engine/log/trace-read-offload.ts). It loads the worker
// (trace-read-worker.ts) bundled into one JavaScript module by `npm run schema`, as the encoder thread does
// (trace-worker-boot.mjs says why).
await import('../../schema/generated/workers/trace-read-worker.mjs');
