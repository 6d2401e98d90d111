/**
 * `twinstep run` with real processes: it behaves like `wasmtime run` for good guests, and every kind of bad
 * input gives one clear line (never a stack trace) and its own exit code.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { wat } from '../support/wat.ts';
import { Cli, ROOT, show } from './support.ts';
import { tempDir } from '../support/temp-dirs.ts';

const guest = (p: string) => join(ROOT, 'guests/build', p);
const work = tempDir('twinstep-run-');

function oneLine(stderr: string): void {
  const lines = stderr.trim().split('\n');
  expect(lines.length, `one line, got:\n${stderr}`).to.equal(1);
  expect(stderr).to.not.match(/\n\s+at /);
}

describe('twinstep run (CLI)', function () {
  this.timeout(120_000);
  const cli = new Cli();
  let unsupported: string;
  let deep: string;
  let fullDivide: string;

  before(async () => {
    unsupported = join(work, 'unsupported.wasm');
    writeFileSync(unsupported, await wat(`(module (import "env" "now" (func)) (memory (export "memory") 1) (func (export "_start")))`));
    // Unbounded recursion: exhausts the call stack.
    deep = join(work, 'deep.wasm');
    fullDivide = join(work, 'full-divide.wasm');
    writeFileSync(fullDivide, await wat(`(module (memory (export "memory") 1 1) (global $z (mut i32) (i32.const 0)) (func (export "_start") (drop (i32.div_u (i32.const 1) (global.get $z)))))`));
    writeFileSync(deep, await wat(`(module (memory (export "memory") 1) (func $f (param i32) (result i32) (i32.add (call $f (i32.add (local.get 0) (i32.const 1))) (i32.const 1))) (func (export "_start") (drop (call $f (i32.const 0)))))`));
    await cli.warm([guest('c/hello.wasm'), guest('c/files.wasm'), guest('c/trap.wasm'), guest('c/memhog.wasm'), deep, fullDivide]);
  });

  it('prints the guest output, passes args and env, and exits with the guest code', async () => {
    const r = await cli.run(['run', '--env', 'TWINSTEP_GREETING=hi', guest('c/hello.wasm'), 'a b', '--exit', '7']);
    expect(r.code, show(r)).to.equal(7);
    expect(r.stdout).to.contain('hello from twinstep');
    expect(r.stdout).to.contain('argv[1]=a b');
    expect(r.stdout).to.contain('TWINSTEP_GREETING=hi');
  });

  it('keeps the virtual disk virtual: a guest writing files leaves the host directory untouched', async () => {
    const dir = tempDir('twinstep-dir-');
    writeFileSync(join(dir, 'keep.txt'), 'host content\n');
    const r = await cli.run(['run', '--dir', `${dir}::/`, guest('c/files.wasm'), '/']);
    expect(r.code, show(r)).to.equal(0);
    expect(r.stdout).to.match(/files: \d+ passed, 0 failed/);
    expect(readFileSync(join(dir, 'keep.txt'), 'utf8')).to.equal('host content\n');
  });

  const cases: Array<{ what: string; args: () => string[]; code: number; message: RegExp }> = [
    { what: 'a missing module', args: () => [join(work, 'nope.wasm')], code: 66, message: /cannot read module .*no such file/ },
    { what: 'a file that is not wasm', args: () => [join(ROOT, 'package.json')], code: 65, message: /not a WebAssembly module/ },
    {
      what: 'a truncated module',
      args: () => {
        const p = join(work, 'truncated.wasm');
        writeFileSync(p, readFileSync(guest('c/hello.wasm')).subarray(0, 200));
        return [p];
      },
      code: 65,
      message: /invalid WebAssembly module/,
    },
    { what: 'an unsupported import', args: () => [unsupported], code: 69, message: /unsupported import env::now/ },
    { what: 'a guest that traps', args: () => [guest('c/trap.wasm')], code: 134, message: /guest trapped: unreachable/ },
    { what: 'a guest that exhausts memory', args: () => [guest('c/memhog.wasm'), 'oom'], code: 135, message: /ran out of memory/ },
    { what: 'a guest that exhausts the stack', args: () => [deep], code: 136, message: /exhausted the call stack/ },
    // Memory at its maximum does not make every trap an out-of-memory: only an abort (unreachable) is taken for one.
    { what: 'a guest at its memory maximum that divides by zero', args: () => [fullDivide], code: 134, message: /guest trapped: divide by zero/ },
    { what: 'an unknown flag', args: () => ['--bogus', guest('c/hello.wasm')], code: 64, message: /unknown option '--bogus'/ },
    { what: 'a missing --dir directory', args: () => ['--dir', join(work, 'absent'), guest('c/hello.wasm')], code: 66, message: /does not exist/ },
  ];
  it('says a guest with no host call to pause at has none, whatever the --unwind mode, when a flag needs one', async () => {
    const none = join(work, 'no-imports.wasm');
    writeFileSync(none, await wat(`(module (memory (export "memory") 1) (func (export "_start")))`));
    const snap = await cli.run(['run', '--snapshot-at', '1', '--snapshot-out', join(work, 'n.snap'), none]);
    expect(snap.code, show(snap)).to.equal(64);
    expect(snap.stderr).to.include('--snapshot-at stops the guest at a host call, and this guest imports none it can pause at (under --unwind all)');
    const cap = await cli.run(['record', '-o', join(work, 'n.twt'), '--max-duration', '100', none]);
    expect(cap.code, show(cap)).to.equal(64);
    expect(cap.stderr).to.include('--max-bytes and --max-duration stop the guest at a host call, and this guest imports none it can pause at (under --unwind all)');
  });

  for (const c of cases) {
    it(`gives one clear line and exit ${c.code} for ${c.what}`, async () => {
      const r = await cli.run(['run', ...c.args()]);
      expect(r.code, show(r)).to.equal(c.code);
      // A trap may follow guest output on stdout; the error itself is one line on stderr.
      oneLine(r.stderr.replace(/^memory\.grow failed.*\n/m, ''));
      expect(r.stderr).to.match(c.message);
    });
  }
});
