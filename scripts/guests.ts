// Builds the example guest programs (guests/c/*.c, guests/as/*.ts, guests/rust/*.rs) into
// guests/build/{c,as,rust}/NAME.wasm, byte-for-byte reproducibly.
//
//   npm run guests                 build into guests/build
//   npm run guests -- --out DIR    build into DIR (used by the drift test)
//   npm run guests -- --check      build into a temp dir, compare with guests/build,
//                                  exit 1 naming every file that differs
//
// Determinism: the outputs are committed so the quick start needs no toolchain,
// which only works if rebuilding gives the same bytes everywhere. So: compile
// from inside guests/c with relative file names (assert() embeds __FILE__), map
// any absolute prefix away, emit no debug info (-g0) and strip what the
// prebuilt wasi-libc objects carry (--strip-debug), and drop the "producers"
// custom section, which records the toolchain version string.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const GUESTS = join(REPO_ROOT, 'guests');
export const COMMITTED_BUILD = join(GUESTS, 'build');

const APT_HINT =
  'install the WASI C toolchain: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32 ' +
  '(use the libclang-rt-<N>-dev-wasm32 matching your clang major version)';

// CLANG and WASI_SYSROOT allow a non-Debian toolchain; the committed bytes are
// only guaranteed for the Debian bookworm packages (clang 14, wasi-libc 2022-05).
const CLANG = process.env.CLANG ?? 'clang';
const SYSROOT = process.env.WASI_SYSROOT ?? '/usr';

export class ToolchainError extends Error {}

interface CGuest {
  /** output name, without .wasm */
  name: string;
  /** source file in guests/c */
  src: string;
  /** extra compiler flags */
  cflags?: string[];
  /** extra wasm-ld flags */
  ldflags?: string[];
}

const C_GUESTS: CGuest[] = [
  { name: 'hello', src: 'hello.c' },
  { name: 'compute', src: 'compute.c' },
  { name: 'clockrand', src: 'clockrand.c' },
  { name: 'files', src: 'files.c' },
  // The same source at another optimisation level: a new build that behaves the same (same calls, outputs and
  // files) but whose memory differs, for differential replay with `--digests files`.
  { name: 'files-o1', src: 'files.c', cflags: ['-O1'] },
  { name: 'ticker', src: 'ticker.c' },
  { name: 'echo', src: 'echo.c' },
  { name: 'hostcalls', src: 'hostcalls.c' },
  { name: 'state', src: 'state.c', cflags: ['-DVARIANT=1'] },
  { name: 'state-v2', src: 'state.c', cflags: ['-DVARIANT=2'] },
  { name: 'lines', src: 'lines.c', cflags: ['-DVARIANT=1'] },
  { name: 'lines-v2', src: 'lines.c', cflags: ['-DVARIANT=2'] },
  { name: 'lines-split', src: 'lines.c', cflags: ['-DVARIANT=3'] },
  { name: 'lines-hang', src: 'lines.c', cflags: ['-DVARIANT=4'] },
  // No --max-memory: the memory limit is the host's to impose; a ceiling
  // baked into the module would stop "memhog oom" before the host's limit is hit.
  { name: 'memhog', src: 'memhog.c' },
  { name: 'trap', src: 'trap.c' },
];

const AS_GUESTS = [{ name: 'demo', src: 'demo.ts' }];

/** Rust guests: one source file each, built with the standard library of rustc's wasm32-wasi target. */
const RUST_GUESTS = [{ name: 'tour', src: 'tour.rs' }];

const RUST_APT_HINT = 'install the Rust WASI toolchain: apt-get install rustc libstd-rust-dev-wasm32';

// RUSTC allows another compiler; the committed bytes are only guaranteed for Debian bookworm's rustc 1.63 with
// libstd-rust-dev-wasm32. Its /usr/bin/rustc is preferred when present: a rustup rustc earlier on PATH usually
// has no wasm32-wasi standard library, and another version gives other bytes.
const RUSTC = process.env.RUSTC ?? (existsSync('/usr/bin/rustc') ? '/usr/bin/rustc' : 'rustc');

/**
 * rustc flags, compiling from inside guests/rust with a relative source name (panic locations then name the
 * file relatively). One codegen unit, so the output does not depend on how work was split; no debug info. The
 * standard library's own panic locations name the toolchain's sources (/usr/src/rustc-<version>/...): the same
 * on every machine with the package, so they do not make the build machine-dependent.
 */
export const RUST_FLAGS = ['--target', 'wasm32-wasi', '-C', 'opt-level=2', '-C', 'codegen-units=1', '-C', 'strip=debuginfo', '-C', 'debuginfo=0'];

export const C_FLAGS = [
  '--target=wasm32-wasi',
  `--sysroot=${SYSROOT}`,
  '-O2',
  '-g0',
  '-std=gnu11', // gnu: clock_gettime, nanosleep, getentropy need the POSIX/BSD declarations
  '-Wall',
  '-Wextra',
  '-Werror',
  `-ffile-prefix-map=${GUESTS}=guests`,
  '-c',
];

// We call wasm-ld ourselves instead of letting clang link, because the clang
// driver silently post-processes the module with any `wasm-opt` it finds on
// PATH (npm puts binaryen's in node_modules/.bin), so the output would depend
// on how the script was launched. These are the arguments clang 14 passes.
function linkArgs(obj: string, out: string, builtins: string, extra: string[]): string[] {
  const lib = join(SYSROOT, 'lib', 'wasm32-wasi');
  return [
    '-m', 'wasm32',
    `-L${lib}`,
    join(lib, 'crt1-command.o'),
    obj,
    '-lc',
    builtins,
    '--strip-debug', // wasi-libc's objects carry DWARF with absolute build paths
    ...extra,
    '-o', out,
  ];
}

export const AS_FLAGS = ['-O3', '--noColors'];

/** Every output path relative to the build root, e.g. "c/hello.wasm". */
export function guestOutputs(): string[] {
  return [...C_GUESTS.map((g) => `c/${g.name}.wasm`), ...AS_GUESTS.map((g) => `as/${g.name}.wasm`), ...RUST_GUESTS.map((g) => `rust/${g.name}.wasm`)];
}

function run(cmd: string, args: string[], cwd: string): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.error) return { ok: false, out: String(r.error.message) };
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Fails early, naming the apt packages, instead of with a cryptic clang error. */
export function checkToolchain(): { wasmLd: string; builtins: string } {
  const version = run(CLANG, ['--version'], REPO_ROOT);
  if (!version.ok) throw new ToolchainError(`clang not found (${CLANG}): ${APT_HINT}`);
  for (const f of ['lib/wasm32-wasi/libc.a', 'lib/wasm32-wasi/crt1-command.o', 'include/wasm32-wasi/stdio.h']) {
    if (!existsSync(join(SYSROOT, f))) {
      throw new ToolchainError(`WASI sysroot incomplete: ${join(SYSROOT, f)} missing: ${APT_HINT}`);
    }
  }
  const builtins = run(CLANG, ['--target=wasm32-wasi', '-print-libgcc-file-name'], REPO_ROOT);
  if (!builtins.ok || !existsSync(builtins.out.trim())) {
    throw new ToolchainError(`compiler-rt builtins for wasm32 missing (${builtins.out.trim()}): ${APT_HINT}`);
  }
  // The wasm-ld that belongs to this clang (Debian names it wasm-ld-14).
  const wasmLd = run(CLANG, ['-print-prog-name=wasm-ld'], REPO_ROOT).out.trim() || 'wasm-ld';
  if (!run(wasmLd, ['--version'], REPO_ROOT).ok) throw new ToolchainError(`wasm-ld not found (${wasmLd}): ${APT_HINT}`);
  return { wasmLd, builtins: builtins.out.trim() };
}

/** Fails early, naming the apt packages, when rustc or its wasm32-wasi standard library is missing. */
export function checkRustToolchain(): void {
  const version = run(RUSTC, ['--version'], REPO_ROOT);
  if (!version.ok) throw new ToolchainError(`rustc not found (${RUSTC}): ${RUST_APT_HINT}`);
  const sysroot = run(RUSTC, ['--print', 'sysroot'], REPO_ROOT).out.trim();
  if (!existsSync(join(sysroot, 'lib', 'rustlib', 'wasm32-wasi', 'lib'))) {
    throw new ToolchainError(`${RUSTC} (${version.out.trim()}) has no wasm32-wasi standard library under ${sysroot}/lib/rustlib: ${RUST_APT_HINT}`);
  }
}

function readLeb(buf: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos++]!;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, pos];
    shift += 7;
  }
}

/**
 * Returns the module without the named custom sections. Done by hand rather
 * than through binaryen so that the code sections stay exactly as the
 * compiler emitted them (a binaryen round-trip re-encodes everything).
 */
export function dropCustomSections(wasm: Uint8Array, names: Set<string>): Uint8Array {
  const keep: Uint8Array[] = [wasm.subarray(0, 8)]; // magic + version
  let pos = 8;
  while (pos < wasm.length) {
    const start = pos;
    const id = wasm[pos++]!;
    const [size, body] = readLeb(wasm, pos);
    const end = body + size;
    let drop = false;
    if (id === 0) {
      const [nameLen, nameStart] = readLeb(wasm, body);
      const name = Buffer.from(wasm.subarray(nameStart, nameStart + nameLen)).toString('utf8');
      drop = names.has(name);
    }
    if (!drop) keep.push(wasm.subarray(start, end));
    pos = end;
  }
  return Buffer.concat(keep);
}

function sha(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 16);
}

/**
 * Builds one module into `outDir/sub/name.wasm`: `compile` writes the raw module to the path it is given, in a
 * temp dir (so a failed build never leaves a stale output); the `producers` section is then dropped.
 */
function buildOne(outDir: string, sub: string, name: string, what: string, log: (line: string) => void, compile: (rawOut: string, tmp: string) => void): void {
  const tmp = mkdtempSync(join(tmpdir(), 'twinstep-guest-'));
  try {
    const rawOut = join(tmp, `${name}.wasm`);
    compile(rawOut, tmp);
    const wasm = dropCustomSections(readFileSync(rawOut), new Set(['producers']));
    writeFileSync(join(outDir, sub, `${name}.wasm`), wasm);
    log(`built ${sub}/${name}.wasm  ${wasm.length} bytes  sha256:${sha(wasm)}  (${what})`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function buildC(outDir: string, tools: { wasmLd: string; builtins: string }, log: (line: string) => void): void {
  const cDir = join(GUESTS, 'c');
  mkdirSync(join(outDir, 'c'), { recursive: true });
  for (const g of C_GUESTS) {
    const variant = [...(g.cflags ?? []), ...(g.ldflags ?? [])].join(' ');
    buildOne(outDir, 'c', g.name, `${g.src}${variant ? ` ${variant}` : ''}`, log, (rawOut, tmp) => {
      const obj = join(tmp, `${g.name}.o`);
      // cwd = guests/c and a relative source name: nothing absolute reaches the compiler's view of the file.
      const cc = run(CLANG, [...C_FLAGS, ...(g.cflags ?? []), g.src, '-o', obj], cDir);
      if (!cc.ok) throw new Error(`clang failed for ${g.src}:\n${cc.out}`);
      const ld = run(tools.wasmLd, linkArgs(obj, rawOut, tools.builtins, g.ldflags ?? []), cDir);
      if (!ld.ok) throw new Error(`wasm-ld failed for ${g.src}:\n${ld.out}`);
    });
  }
}

function buildAs(outDir: string, log: (line: string) => void): void {
  const require = createRequire(import.meta.url);
  const ascBin = require.resolve('assemblyscript/bin/asc.js');
  const shimConfig = relative(REPO_ROOT, require.resolve('@assemblyscript/wasi-shim/asconfig.json'));
  mkdirSync(join(outDir, 'as'), { recursive: true });
  for (const g of AS_GUESTS) {
    const out = join(outDir, 'as', `${g.name}.wasm`);
    // Relative entry path from the repo root: asc embeds source paths in abort messages.
    const src = `guests/as/${g.src}`;
    const r = run(process.execPath, [ascBin, src, '--config', shimConfig, ...AS_FLAGS, '--outFile', out], REPO_ROOT);
    if (!r.ok) throw new Error(`asc failed for ${src}:\n${r.out}`);
    const wasm = dropCustomSections(readFileSync(out), new Set(['producers']));
    writeFileSync(out, wasm);
    log(`built as/${g.name}.wasm  ${wasm.length} bytes  sha256:${sha(wasm)}  (${g.src})`);
  }
}

function buildRust(outDir: string, log: (line: string) => void): void {
  const rustDir = join(GUESTS, 'rust');
  mkdirSync(join(outDir, 'rust'), { recursive: true });
  for (const g of RUST_GUESTS) {
    buildOne(outDir, 'rust', g.name, g.src, log, (rawOut) => {
      const rc = run(RUSTC, [...RUST_FLAGS, g.src, '-o', rawOut], rustDir);
      if (!rc.ok) throw new Error(`rustc failed for ${g.src}:\n${rc.out}`);
    });
  }
}

/** Builds every guest into outDir (created if needed). */
export function buildGuests(outDir: string, log: (line: string) => void = console.log): void {
  const tools = checkToolchain();
  checkRustToolchain();
  buildC(outDir, tools, log);
  buildAs(outDir, log);
  buildRust(outDir, log);
  // Remove outputs of guests that no longer exist, so the build directory
  // (and the committed copy) is exactly the current set. Only *.wasm in our
  // own c/, as/ and rust/ subdirectories are ever touched.
  const wanted = new Set(guestOutputs());
  for (const sub of ['c', 'as', 'rust']) {
    for (const f of readdirSync(join(outDir, sub))) {
      if (f.endsWith('.wasm') && !wanted.has(`${sub}/${f}`)) {
        rmSync(join(outDir, sub, f));
        log(`removed stale ${sub}/${f}`);
      }
    }
  }
}

/** Files (relative to the build root) that differ, are missing or are extra. */
export function compareBuilds(expectedDir: string, actualDir: string): string[] {
  const list = (dir: string): string[] =>
    existsSync(dir) ? (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.wasm')) : [];
  const names = new Set([...list(expectedDir), ...list(actualDir)]);
  const differing: string[] = [];
  for (const name of [...names].sort()) {
    const a = join(expectedDir, name);
    const b = join(actualDir, name);
    if (!existsSync(a)) differing.push(`${name} (not in ${expectedDir})`);
    else if (!existsSync(b)) differing.push(`${name} (not rebuilt)`);
    else if (!readFileSync(a).equals(readFileSync(b))) differing.push(name);
  }
  return differing;
}

function main(argv: string[]): number {
  let outDir = COMMITTED_BUILD;
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--check') check = true;
    else if (a === '--out' && argv[i + 1]) outDir = resolve(argv[++i]!);
    else {
      console.error(`usage: tsx scripts/guests.ts [--out DIR] [--check]   (unknown argument: ${a})`);
      return 2;
    }
  }
  try {
    if (check) {
      const tmp = mkdtempSync(join(tmpdir(), 'twinstep-guests-check-'));
      try {
        buildGuests(tmp);
        const differing = compareBuilds(COMMITTED_BUILD, tmp);
        if (differing.length > 0) {
          console.error(`guests/build is out of date; rebuild with \`npm run guests\`. Differing files:`);
          for (const f of differing) console.error(`  ${f}`);
          return 1;
        }
        console.log(`guests/build matches the sources (${guestOutputs().length} files)`);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    } else {
      buildGuests(outDir);
    }
    return 0;
  } catch (e) {
    console.error(`guests: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

// Only run when executed, so the spec can import the helpers.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
