/**
 * The node:wasi yardstick, in its own process: Node 20's node:wasi can crash the process after guest memory
 * growth (its fast API calls), so the benchmark runs it here and retries when it dies.
 * argv: MODULE ROUNDS [GUEST ARGS...]; prints {"ms":[...]} (one warm-up run first, like the twinstep side).
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';
import { performance } from 'node:perf_hooks';

const [path, roundsArg, ...args] = process.argv.slice(2);
const mod = new WebAssembly.Module(readFileSync(path));
const once = (): number => {
  const devnull = openSync('/dev/null', 'w');
  try {
    const wasi = new WASI({ version: 'preview1', args: ['guest', ...args], env: {}, stdout: devnull, stderr: devnull, returnOnExit: true });
    const inst = new WebAssembly.Instance(mod, wasi.getImportObject() as WebAssembly.Imports);
    const t0 = performance.now();
    const code = wasi.start(inst);
    const ms = performance.now() - t0;
    if (code !== 0) throw new Error(`node:wasi guest exited ${code}`);
    return ms;
  } finally {
    closeSync(devnull);
  }
};
once();
const ms: number[] = [];
for (let i = 0; i < Number(roundsArg); i++) ms.push(once());
process.stdout.write(JSON.stringify({ ms }));
