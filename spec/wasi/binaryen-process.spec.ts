/**
 * Binaryen in a child process of its own (engine/wasi/binaryen-process.ts): instrumentation and test-module
 * compiles go through it; a module twinstep cannot run keeps its MachineError code across the process
 * boundary; a child that dies fails its job with E_INSTRUMENT and the next job gets a new child; and an idle
 * child never keeps its parent alive.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaryenChild, binaryenJob } from '../../engine/wasi/binaryen-process.ts';
import { loadModule } from '../../engine/wasi/loader.ts';
import { MachineError } from '../../engine/machine/errors.ts';
import { wat } from '../support/wat.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
/** binaryen.Features: MVP | MutableGlobals | SIMD128. */
const WITH_SIMD = 0 | 2 | 8;

const MINIMAL = (extra: string) => `(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  ${extra}
  (func (export "_start") (call $exit (i32.const 0))))`;

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('Binaryen child process', function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'twinstep-binaryen-'));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('compiles text, and says why text does not compile', async () => {
    const bytes = await wat(MINIMAL(''));
    expect(WebAssembly.validate(bytes)).to.equal(true);
    const bad = await rejection(wat('(module (func (i32.add)))'));
    expect(String(bad)).to.match(/does not (parse|validate)/);
  });

  it('keeps the MachineError code of a module twinstep cannot run (a v128 global) across the process boundary', async () => {
    const out = join(tempDir(), 'simd.wasm');
    const r = await binaryenJob({ op: 'wat', text: MINIMAL('(global $v (mut v128) (v128.const i32x4 1 2 3 4))'), features: WITH_SIMD, out });
    expect(r.error).to.equal(undefined);
    const e = await rejection(loadModule(readFileSync(out)));
    expect(e).to.be.instanceOf(MachineError);
    expect((e as MachineError).code).to.equal('E_UNSUPPORTED_IMPORT');
    expect((e as MachineError).message).to.match(/global .* has a type twinstep cannot snapshot/);
  });

  it('fails the job of a child that dies with E_INSTRUMENT, and the next job starts a new child', async () => {
    await wat(MINIMAL(''));
    const first = binaryenChild();
    expect(first, 'a child after a job').to.not.equal(undefined);
    // Stopped before the job is sent, the child cannot answer it before it is killed (under load it could).
    first!.kill('SIGSTOP');
    const job = binaryenJob({ op: 'wat', text: MINIMAL(''), features: 2, out: join(tempDir(), 'x.wasm') });
    first!.kill('SIGKILL');
    const e = await rejection(job);
    expect(e).to.be.instanceOf(MachineError);
    expect((e as MachineError).code).to.equal('E_INSTRUMENT');
    expect((e as MachineError).message).to.match(/the Binaryen process was killed by SIGKILL/);
    expect(WebAssembly.validate(await wat(MINIMAL('(global $g (mut i32) (i32.const 7))')))).to.equal(true);
    expect(binaryenChild()).to.not.equal(first);
  });

  it('instruments into the cache in a process that then exits by itself (the idle child keeps nobody alive)', () => {
    const cache = tempDir();
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', '-e', `const { loadModule } = await import('./engine/wasi/loader.ts'); const { readFileSync } = await import('node:fs'); const m = await loadModule(readFileSync('guests/build/c/hello.wasm')); console.log('globals', m.globalCount);`],
      { cwd: ROOT, env: { ...process.env, TWINSTEP_CACHE: cache }, encoding: 'utf8', timeout: 50_000 },
    );
    expect(r.error, 'the process did not exit by itself').to.equal(undefined);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^globals \d+\n$/);
    expect(readdirSync(cache).filter((f) => f.endsWith('.wasm'))).to.have.length(1);
    expect(existsSync(cache)).to.equal(true);
  });
});
