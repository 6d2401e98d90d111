/**
 * The command line's bundle (scripts/cli-bundle.mjs): `twinstep` runs from one JavaScript module made from the
 * current sources, rebuilt when a source changes, with the engine's boot files found from inside it, and runs
 * through the TypeScript loader when asked to (or when no bundle can be made).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ROOT, TWINSTEP } from './support.ts';
import { sourceFingerprint } from '../../scripts/cli-bundle.mjs';
import { GUEST_DIR } from '../support/guests.ts';

function twinstep(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [TWINSTEP, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the command line bundle', function () {
  this.timeout(180_000);

  it('runs a command from a bundle of the current sources, made on first use', () => {
    const r = twinstep(['--version']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^twinstep \d+\.\d+\.\d+/);
    expect(existsSync(join(ROOT, '.bundle', `cli-${sourceFingerprint()}.mjs`)), 'the bundle of these sources').to.equal(true);
  });

  it('fingerprints the sources: a changed source gives another bundle name, the same sources the same', () => {
    const file = join(ROOT, 'engine/root.ts');
    const before = statSync(file);
    const fp = sourceFingerprint();
    try {
      utimesSync(file, before.atime, new Date(before.mtimeMs + 5_000));
      expect(sourceFingerprint(), 'after a change').to.not.equal(fp);
    } finally {
      // Back to the same millisecond (the fingerprint's unit). Not `before.mtime`: a Date goes to the kernel as
      // float seconds, and about half the time lands a hair below its millisecond (one ms earlier, floored);
      // the middle of the millisecond survives that rounding.
      const ms = Math.floor(before.mtimeMs) + 0.5;
      utimesSync(file, before.atime, ms / 1000);
    }
    expect(sourceFingerprint(), 'restored').to.equal(fp);
  });

  it('from inside the bundle, the engine finds its helper threads and its Binaryen child', () => {
    expect(twinstep(['--version']).code).to.equal(0);
    const bundle = join(ROOT, '.bundle', `cli-${sourceFingerprint()}.mjs`);
    // Imported by a plain Node process (no TypeScript loader), as scripts/twinstep.mjs does.
    const script = `const m = await import(${JSON.stringify(pathToFileURL(bundle).href)});
      process.stdout.write(JSON.stringify([m.ENCODER_BOOT.href, m.DECODER_BOOT.href, m.INSTRUMENT_CHILD, typeof m.main]));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: tmpdir() });
    expect(r.status, r.stderr).to.equal(0);
    const [enc, dec, child, main] = JSON.parse(r.stdout) as string[];
    expect(main).to.equal('function');
    expect(fileURLToPath(enc!)).to.equal(join(ROOT, 'engine/log/trace-worker-boot.mjs'));
    expect(fileURLToPath(dec!)).to.equal(join(ROOT, 'engine/log/trace-read-worker-boot.mjs'));
    expect(child).to.equal(join(ROOT, 'engine/wasi/instrument-child.mjs'));
    for (const f of [fileURLToPath(enc!), fileURLToPath(dec!), child!]) expect(existsSync(f), f).to.equal(true);
  });

  it('instruments a guest from the bundle (a fresh cache), and runs the same through the TypeScript loader', () => {
    const cache = mkdtempSync(join(tmpdir(), 'twinstep-bundle-cache-'));
    try {
      const guest = join(GUEST_DIR, 'c/hello.wasm');
      const bundled = twinstep(['run', guest], { TWINSTEP_CACHE: cache });
      expect(bundled.code, bundled.stderr).to.equal(0);
      rmSync(cache, { recursive: true, force: true });
      const loader = twinstep(['run', guest], { TWINSTEP_CACHE: cache, TWINSTEP_NO_BUNDLE: '1' });
      expect(loader.code, loader.stderr).to.equal(0);
      expect(loader.stdout).to.equal(bundled.stdout);
      expect(loader.stdout.length).to.be.greaterThan(0);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
