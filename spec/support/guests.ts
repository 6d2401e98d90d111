/** The example guests as test cases: module path, args, stdin and a preopen, each run deterministically. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Preopen } from '../../engine/wasi/context.ts';
import { tempDir } from './temp-dirs.ts';

export interface GuestCase {
  readonly name: string;
  readonly path: string;
  readonly args: readonly string[];
  readonly stdin?: string;
  /** Whether the guest needs a directory preopened as "/". */
  readonly needsDir?: boolean;
}

export const GUEST_DIR = new URL('../../guests/build/', import.meta.url).pathname;

export const EXAMPLE_GUESTS: readonly GuestCase[] = [
  { name: 'c/hello', path: join(GUEST_DIR, 'c/hello.wasm'), args: ['one', 'two'] },
  { name: 'c/compute', path: join(GUEST_DIR, 'c/compute.wasm'), args: ['1'] },
  { name: 'c/clockrand', path: join(GUEST_DIR, 'c/clockrand.wasm'), args: [] },
  { name: 'c/files', path: join(GUEST_DIR, 'c/files.wasm'), args: ['/'], needsDir: true },
  { name: 'c/echo', path: join(GUEST_DIR, 'c/echo.wasm'), args: [], stdin: 'first line\nsecond line\nthird\n' },
  { name: 'c/hostcalls', path: join(GUEST_DIR, 'c/hostcalls.wasm'), args: ['3000'] },
  { name: 'c/ticker', path: join(GUEST_DIR, 'c/ticker.wasm'), args: ['12', '1'] },
  { name: 'c/state', path: join(GUEST_DIR, 'c/state.wasm'), args: [] },
  { name: 'c/lines', path: join(GUEST_DIR, 'c/lines.wasm'), args: [] },
  { name: 'as/demo', path: join(GUEST_DIR, 'as/demo.wasm'), args: [] },
  { name: 'rust/tour', path: join(GUEST_DIR, 'rust/tour.wasm'), args: ['/'], needsDir: true, stdin: 'The cat\nthe dog and THE cat\n' },
];

/** A fresh host directory with a little content, for guests that work on files. */
export function scratchDir(): string {
  const d = tempDir('twinstep-dir-');
  mkdirSync(join(d, 'existing'));
  writeFileSync(join(d, 'existing', 'note.txt'), 'a file that was there at boot\n');
  return d;
}

export function preopensFor(g: GuestCase, dir?: string): Preopen[] {
  return g.needsDir ? [{ host: dir ?? scratchDir(), guest: '/' }] : [];
}

