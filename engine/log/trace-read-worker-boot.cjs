// Entry point of the trace decoder thread (engine/log/trace-read-offload.ts). The thread starts without the
// TypeScript loader, so it registers one first: tsx's CommonJS hook (see trace-worker-boot.cjs for why not its
// ESM loader).
require('tsx/cjs/api').register();
require('./trace-read-worker.ts');
