/**
 * WASI machine snapshots: the machine's state as plain data, its page digests, and the mapping to and from
 * the versioned FlatBuffers form (engine/checkpoint/snapshot-codec.ts) that crosses processes and hosts.
 */
import type { MachineSnapshot, StateDigest } from '../machine/machine.ts';
import { stateDigest } from '../checkpoint/digest.ts';
import { MachineError } from '../machine/errors.ts';
import { decodeSnapshot, encodeSnapshot, type GlobalData, type SnapshotData } from '../checkpoint/snapshot-codec.ts';
import type { GlobalType, LoadedModule } from './loader.ts';
import type { MachineState } from './machine-state.ts';

/** Resolution reported by clock_res_get when the config names none (must match the host's default). */
export const CLOCK_RESOLUTION_NS_DEFAULT = 1000n;

export interface SnapshotEncodeOptions {
  /** Identifies the protected VM; carried in every snapshot and message. */
  readonly vmId?: string;
  /** Embed the module bytes so the receiver needs no copy of the guest. */
  readonly module?: LoadedModule;
}

export class WasiSnapshot implements MachineSnapshot {
  constructor(
    readonly state: MachineState,
    readonly pageDigests: BigUint64Array,
    private readonly globalTypes: readonly GlobalType[],
    private readonly unwind: string,
  ) {}

  get callIndex(): number {
    return this.state.callIndex;
  }

  /** The digest of this snapshot's state (equal to the machine's digest when it was taken). */
  digest(): StateDigest {
    const s = this.state;
    return stateDigest(s.memory, s.globals, s.wasi, s.fsTimeNs, this.pageDigests);
  }

  toData(opts: SnapshotEncodeOptions = {}): SnapshotData {
    const s = this.state;
    return {
      vmId: opts.vmId ?? '',
      moduleHash: s.moduleHash,
      moduleBytes: opts.module?.bytes,
      config: {
        args: s.config.args,
        env: s.config.env,
        preopens: s.config.preopens,
        clockResolutionNs: s.config.clockResolutionNs ?? CLOCK_RESOLUTION_NS_DEFAULT,
        bootTimeNs: s.config.bootTimeNs ?? 0n,
        unwind: this.unwind,
      },
      callIndex: s.callIndex,
      memoryPages: s.memory.length / 65536,
      memory: s.memory,
      pageDigests: this.pageDigests,
      globals: s.globals.map((v, index) => globalToBits(index, this.globalTypes[index], v)),
      asyncifyStack: s.asyncifyStack ?? new Uint8Array(0),
      fsTimeNs: s.fsTimeNs,
      ...(s.status === 'exited' ? { exitCode: s.exitCode } : {}),
      wasi: s.wasi,
    };
  }

  encode(opts: SnapshotEncodeOptions = {}): Uint8Array {
    return encodeSnapshot(this.toData(opts));
  }
}

/**
 * The machine state a (full) snapshot holds. A snapshot with no Asyncify stack was taken before the guest
 * started; one with a stack stands paused at host call `callIndex`.
 */
export function stateFromData(d: SnapshotData): MachineState {
  if (d.delta) throw new MachineError('E_SNAPSHOT', 'a delta snapshot must be applied to its base before restoring');
  return {
    moduleHash: d.moduleHash,
    config: { args: d.config.args, env: d.config.env, preopens: d.config.preopens, clockResolutionNs: d.config.clockResolutionNs, bootTimeNs: d.config.bootTimeNs },
    callIndex: d.callIndex,
    status: d.exitCode !== undefined ? 'exited' : d.asyncifyStack.length === 0 ? 'ready' : 'paused',
    exitCode: d.exitCode ?? 0,
    memory: d.memory,
    globals: d.globals.map(bitsToGlobal),
    asyncifyStack: d.asyncifyStack.length === 0 ? undefined : d.asyncifyStack,
    fsTimeNs: d.fsTimeNs,
    wasi: d.wasi,
  };
}

export function decodeMachineState(bytes: Uint8Array): { data: SnapshotData; state: MachineState } {
  const data = decodeSnapshot(bytes);
  return { data, state: stateFromData(data) };
}

const scratch = new DataView(new ArrayBuffer(8));

function globalToBits(index: number, type: GlobalType, v: number | bigint): GlobalData {
  switch (type) {
    case 'i32':
      return { index, type, bits: BigInt(Number(v) >>> 0) };
    case 'i64':
      return { index, type, bits: BigInt.asUintN(64, BigInt(v)) };
    case 'f32':
      scratch.setFloat32(0, Number(v), true);
      return { index, type, bits: BigInt(scratch.getUint32(0, true)) };
    case 'f64':
      scratch.setFloat64(0, Number(v), true);
      return { index, type, bits: scratch.getBigUint64(0, true) };
  }
}

function bitsToGlobal(g: GlobalData): number | bigint {
  switch (g.type) {
    case 'i32':
      return Number(BigInt.asIntN(32, g.bits));
    case 'i64':
      return BigInt.asIntN(64, g.bits);
    case 'f32':
      scratch.setUint32(0, Number(g.bits), true);
      return scratch.getFloat32(0, true);
    case 'f64':
      scratch.setBigUint64(0, g.bits, true);
      return scratch.getFloat64(0, true);
  }
}
