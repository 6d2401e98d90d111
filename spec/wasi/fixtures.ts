/** Shared set-up for the WASI host specs: a temporary host directory tree and a probe over it. */
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wat } from '../support/wat.ts';
import { fakeDevices } from '../support/fake-devices.ts';
import { Probe, RecordingContext, probeWat } from './harness.ts';
import type { WasiStateData } from '../../engine/wasi/state.ts';
import type { Devices } from '../../engine/wasi/context.ts';

let probeBytes: Uint8Array | undefined;
export async function probeModule(): Promise<Uint8Array> {
  probeBytes ??= await wat(probeWat());
  return probeBytes;
}

/**
 * A host tree:  a.txt ("alpha"), sub/b.txt ("bravo"), sub/deep/ (empty), link-a -> a.txt,
 * link-out -> ../outside, link-abs -> /etc/passwd, loop1 -> loop2, loop2 -> loop1.
 */
export function makeTree(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'twinstep-wasi-'));
  writeFileSync(join(dir, 'a.txt'), 'alpha');
  mkdirSync(join(dir, 'sub', 'deep'), { recursive: true });
  writeFileSync(join(dir, 'sub', 'b.txt'), 'bravo');
  symlinkSync('a.txt', join(dir, 'link-a'));
  symlinkSync('../outside', join(dir, 'link-out'));
  symlinkSync('/etc/passwd', join(dir, 'link-abs'));
  symlinkSync('loop2', join(dir, 'loop1'));
  symlinkSync('loop1', join(dir, 'loop2'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The preopen of makeTree() is fd 3. */
export const ROOT_FD = 3;

export async function probeOver(dir: string | undefined, opts: { devices?: Devices; ctx?: RecordingContext; state?: WasiStateData; stdin?: Uint8Array } = {}): Promise<Probe> {
  return Probe.create(await probeModule(), {
    args: ['guest', 'x'],
    env: ['A=1'],
    preopens: dir ? [{ host: dir, guest: '/' }] : [],
    devices: opts.devices ?? fakeDevices(1, opts.stdin),
    ctx: opts.ctx,
    state: opts.state,
  });
}
