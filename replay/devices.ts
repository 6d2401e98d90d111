/**
 * Devices for a machine that replays: every input comes from the log, so any attempt to read a real clock,
 * entropy or stdin is a bug in the replay path, and it fails loudly instead of silently diverging.
 */
import type { Devices } from '../engine/wasi/context.ts';

function refuse(): never {
  throw new Error('replay touched a live device');
}

export const replayDevices: Devices = {
  clockNs: () => refuse(),
  random: () => refuse(),
  stdinRead: () => refuse(),
  stdinReady: () => refuse(),
  sleepNs: () => refuse(),
};
