// Runs one guest under Node's built-in node:wasi, in its own process.
//
// Why a child process: Node 20's node:wasi uses V8 "fast API calls" that can
// keep a stale pointer to linear memory after memory.grow, which segfaults
// the whole process at random (it hits guests that malloc and then write).
// The spec therefore starts this file with --no-turbo-fast-api-calls, and a
// crash or a trap can never take the mocha process down with it.
//
// Input: one JSON argument {wasm, args, env, preopens, stdin, stdout, stderr,
// hashMemory} where stdin/stdout/stderr are paths of files the guest's fds
// 0/1/2 use.
// Output (on this process's stdout): one JSON line
//   {exitCode: number} or {trap: string}, plus, if hashMemory, memorySha256
//   of the final linear memory (tells state.wasm and state-v2.wasm apart).
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';

const cfg = JSON.parse(process.argv[2]);
const fds = {
  stdin: openSync(cfg.stdin, 'r'),
  stdout: openSync(cfg.stdout, 'w'),
  stderr: openSync(cfg.stderr, 'w'),
};
const wasi = new WASI({
  version: 'preview1',
  args: cfg.args,
  env: cfg.env,
  preopens: cfg.preopens,
  returnOnExit: true, // proc_exit returns its code instead of ending this process
  ...fds,
});
const module = await WebAssembly.compile(readFileSync(cfg.wasm));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
const result = {};
try {
  result.exitCode = wasi.start(instance);
} catch (e) {
  if (!(e instanceof WebAssembly.RuntimeError)) throw e;
  result.trap = e.message;
}
if (cfg.hashMemory) {
  const memory = instance.exports.memory;
  result.memorySha256 = createHash('sha256').update(new Uint8Array(memory.buffer)).digest('hex');
}
for (const fd of Object.values(fds)) closeSync(fd);
process.stdout.write(JSON.stringify(result) + '\n');
