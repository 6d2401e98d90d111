// The command line as one JavaScript module, for scripts/twinstep.mjs.
//
// Why: through the TypeScript loader, every `twinstep` command spent about 0.7 s starting on the bench host
// (`twinstep --version`: the loader's hooks, then the CLI's TypeScript transformed file by file); the same code
// bundled into one module by esbuild starts in about 0.26 s. CI jobs run the command many times.
//
// How: the bundle is made on first use, by esbuild (a dev dependency, also used by `npm run schema`), into
// .bundle/ at the repository root (not committed). Its name carries a fingerprint of the sources (path, size
// and modification time (to the millisecond) of every file the command line can load, and the package and TypeScript settings), so a
// changed source makes a new bundle at the next command, never a stale one. A bundle is written under a name of
// its own and renamed into place, so processes that start together never read a half-written one; older
// bundles are removed once a new one is in place. .bundle/ sits one level below the root as engine/ does, so the
// engine finds its boot files from inside the bundle (engine/root.ts).
//
// Whenever the bundle cannot be had (esbuild missing, a read-only checkout, a build error, TWINSTEP_NO_BUNDLE=1),
// the command runs through the TypeScript loader as before: slower to start, same behaviour.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BUNDLE_DIR = join(ROOT, '.bundle');
/** What the command line can load: the sources it is built from, and the settings that shape the build. */
const SOURCE_DIRS = ['engine', 'replay', 'schema', 'scripts'];
const SETTINGS = ['package.json', 'package-lock.json', 'tsconfig.json'];

/** A fingerprint of the sources and settings (12 hex digits). */
export function sourceFingerprint() {
  const h = createHash('sha256');
  /** A file's path, size and modification time (to the millisecond) into the hash. */
  const stamp = (rel) => {
    const s = statSync(join(ROOT, rel));
    h.update(`${rel}\0${s.size}\0${Math.floor(s.mtimeMs)}\n`);
  };
  const visit = (dir) => {
    let names;
    try {
      names = readdirSync(join(ROOT, dir), { withFileTypes: true });
    } catch {
      return;
    }
    names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of names) {
      const rel = `${dir}/${d.name}`;
      if (d.isDirectory()) visit(rel);
      else if (/\.(ts|mts|mjs|js|json)$/.test(d.name)) stamp(rel);
    }
  };
  for (const dir of SOURCE_DIRS) visit(dir);
  for (const f of SETTINGS) if (existsSync(join(ROOT, f))) stamp(f);
  h.update(process.version);
  return h.digest('hex').slice(0, 12);
}

/** The bundle of the current sources: made now if there is none (undefined when it cannot be made). */
async function bundlePath() {
  if (process.env.TWINSTEP_NO_BUNDLE === '1') return undefined;
  const name = `cli-${sourceFingerprint()}.mjs`;
  const path = join(BUNDLE_DIR, name);
  if (existsSync(path)) return path;
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    return undefined;
  }
  try {
    mkdirSync(BUNDLE_DIR, { recursive: true });
    const tmp = join(BUNDLE_DIR, `.${name}.${process.pid}.tmp`);
    await esbuild.build({
      // main() and, for the spec that checks them from inside a bundle, the paths the engine starts files by.
      stdin: {
        contents: [
          "export { main } from './scripts/cli/main.ts';",
          "export { ENCODER_BOOT, DECODER_BOOT } from './engine/log/helper-threads.ts';",
          "export { INSTRUMENT_CHILD } from './engine/wasi/binaryen-process.ts';",
        ].join('\n'),
        resolveDir: ROOT,
        sourcefile: 'cli-bundle-entry.ts',
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // Packages stay imports (resolved from node_modules as before); only the project's own code is bundled.
      packages: 'external',
      tsconfig: join(ROOT, 'tsconfig.json'),
      outfile: tmp,
      logLevel: 'silent',
    });
    renameSync(tmp, path);
    for (const old of readdirSync(BUNDLE_DIR)) {
      if (old !== name && old.startsWith('cli-') && old.endsWith('.mjs')) rmSync(join(BUNDLE_DIR, old), { force: true });
    }
    return path;
  } catch {
    return undefined;
  }
}

/** The CLI's main(): from the bundle when there is one, else through the TypeScript loader. */
export async function loadCli() {
  const path = await bundlePath();
  if (path !== undefined) {
    try {
      return await import(pathToFileURL(path).href);
    } catch {
      // A bundle removed under us (a newer one replaced it) or one that does not load: the loader's way.
    }
  }
  const { register } = await import('tsx/esm/api');
  register();
  return import('./cli/main.ts');
}
