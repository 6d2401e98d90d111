// Entry point of the trace encoder thread (engine/log/trace-offload.ts). The thread starts without the
// TypeScript loader, so it registers one first: tsx's CommonJS hook, which loads the worker in this thread.
// (Its ESM loader runs module hooks on a thread of their own: booting that way took 320-420 ms on the bench
// host, this way 260-290, and a recording runs in-thread, at about a third of the speed, until the thread is up.)
require('tsx/cjs/api').register();
require('./trace-worker.ts');
