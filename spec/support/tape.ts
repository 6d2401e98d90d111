/**
 * A minimal record/replay pair for machine tests: `recorder` runs live and keeps every input result and
 * output by host-call index; `player` feeds recorded inputs back by index and collects outputs.
 */
import { PAUSE, type HostCallHandler, type HostCallInfo } from '../../engine/machine/machine.ts';

export interface Tape {
  inputs: Map<number, Uint8Array>;
  outputs: Array<{ index: number; channel: number; data: Uint8Array }>;
  calls: number;
}

export function newTape(): Tape {
  return { inputs: new Map(), outputs: [], calls: 0 };
}

/** Records live; optionally pauses at host call `pauseAt` (once). */
export function recorder(tape: Tape, pauseAt = -1): HostCallHandler & { paused: boolean } {
  const h = {
    paused: false,
    beforeCall(call: HostCallInfo) {
      tape.calls = Math.max(tape.calls, call.index + 1);
      if (call.index === pauseAt && !h.paused) {
        h.paused = true;
        return PAUSE;
      }
    },
    input: (call: { index: number; live(): Uint8Array }) => {
      const r = call.live();
      tape.inputs.set(call.index, r.slice());
      return r;
    },
    output: (call: { index: number; channel: number; data: Uint8Array }) => {
      tape.outputs.push({ index: call.index, channel: call.channel, data: call.data.slice() });
    },
  };
  return h;
}

/** Replays a tape's inputs; outputs go to `out`. */
export function player(tape: Tape, out: Tape['outputs']): HostCallHandler {
  return {
    input: (call) => {
      const r = tape.inputs.get(call.index);
      if (!r) throw new Error(`no recorded input at host call ${call.index} (${call.name})`);
      return r;
    },
    output: (call) => {
      out.push({ index: call.index, channel: call.channel, data: call.data.slice() });
    },
  };
}

export function outputText(outs: Tape['outputs']): string {
  return outs.map((o) => (o.channel === -1 ? `<exit ${new DataView(o.data.buffer, o.data.byteOffset).getInt32(0, true)}>` : Buffer.from(o.data).toString('latin1'))).join('');
}
