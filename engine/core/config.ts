/**
 * Configuration of the protocol cores. Every limit is explicit (design rule 5): the guest pauses at a bound,
 * nothing is ever dropped. Durations are in ms of the time passed to tick(); the core has no clock of its own.
 */
import { fnv1a64, type ChunkHash } from './chunk-hash.ts';
import { ProtocolError } from './errors.ts';
import { blockArenaBytes } from '../log/entry-block.ts';

/**
 * 'ack': an output is released once the secondary has RECEIVED every entry up to it (the classic output rule).
 * 'compare': only once the secondary has REPLAYED up to it with byte-identical results (quasi-lockstep).
 */
export type ReleaseRule = 'ack' | 'compare';
/** Who sends a released output to the outside world. 'secondary' needs rule 'compare': it dispatches what it matched. */
export type DispatchSide = 'primary' | 'secondary';

export interface PairConfig {
  readonly vmId: string;
  readonly releaseRule: ReleaseRule;
  readonly dispatchSide: DispatchSide;
  readonly heartbeatMs: number;
  /** Silence after which the peer counts as lost. */
  readonly peerTimeoutMs: number;
  /** Re-send of unacknowledged entries, chunks, divergence reports, nacks and joins. */
  readonly retransmitMs: number;
  /** Pause between two lease attempts after a denial. */
  readonly leaseRetryMs: number;
  /** Ask for a renewal this long before the lease runs out. */
  readonly leaseRenewMs: number;
  /** Stop releasing this long before the lease runs out: covers the time between two ticks. */
  readonly leaseGuardMs: number;
  readonly chunkHash: ChunkHash;
}

export interface PrimaryConfig extends PairConfig {
  /** Held outputs (count): at the bound the guest pauses. */
  readonly heldOutputsMax: number;
  /** Held output bytes: at the bound the guest pauses (one output larger than this still passes alone). */
  readonly heldBytesMax: number;
  /** Entries sent but not acked as received. */
  readonly inflightEntriesMax: number;
  /** Entries not yet replayed by the secondary: bounds how long a failover or a resync takes. */
  readonly lagEntriesMax: number;
  readonly batchEntriesMax: number;
  /**
   * Payload bytes (requests + data) per entries message: a batch is cut before it grows past this, so
   * large inputs and outputs never make a message exceed the channel's frame limit (16 MiB by default).
   * One entry larger than this still travels alone.
   */
  readonly batchBytesMax: number;
  /** Without a secondary: keep running unprotected, or pause the guest until one is protecting again. */
  readonly onPeerLoss: 'continue' | 'pause';
  /**
   * While a state transfer is on its way or being applied, the secondary may be silent for longer than
   * peerTimeoutMs: applying a large state keeps its thread busy. Silence counts as loss only after
   * peerTimeoutMs plus the transfer's bytes at this rate (bytes per ms; 50_000: 1.3 s more for 64 MiB).
   */
  readonly transferApplyBytesPerMs: number;
  /**
   * The driver encodes every message ready() returns before it steps the core again (it never keeps a message,
   * or a block of one, for later). The log may then write new entries into the buffers of entries the secondary
   * acknowledged, instead of a fresh buffer for every megabyte of log: a host-call-heavy guest logs a megabyte
   * every few milliseconds, and each fresh buffer cost its page faults and its share of the collector's work
   * (about 1 ms per MiB on a virtual machine). Off by default: a driver that holds messages (the simulator's
   * network) would see their bytes change.
   */
  readonly reuseLogBuffers: boolean;
  /** Bytes of each buffer the log writes entries into (a larger entry gets one of its own size). */
  readonly logBufferBytes: number;
}

export interface SecondaryConfig extends PairConfig {
  /** Unique per process incarnation (host + boot count): names this side's joins. */
  readonly nodeId: string;
  /** Send a cumulative ack at least every N newly received or replayed entries (else once per tick). */
  readonly ackEntriesEvery: number;
  /**
   * Also ack at once (not at the next tick) when the ack may let a held output go: on receipt of an output
   * entry the primary may still hold, and (rule 'compare' or secondary dispatch) when replay passes one.
   * Real drivers set it, so they need not tick after every message to keep output hold time low.
   */
  readonly ackOutputsAtOnce: boolean;
  /** Out-of-order entries buffered ahead of a gap. */
  readonly aheadEntriesMax: number;
}

export const pairDefaults = {
  releaseRule: 'ack',
  dispatchSide: 'primary',
  heartbeatMs: 50,
  peerTimeoutMs: 500,
  retransmitMs: 100,
  leaseRetryMs: 100,
  leaseRenewMs: 300,
  leaseGuardMs: 20,
  chunkHash: fnv1a64,
} as const satisfies Omit<PairConfig, 'vmId'>;

export const primaryDefaults = {
  ...pairDefaults,
  heldOutputsMax: 64,
  heldBytesMax: 1 << 20,
  inflightEntriesMax: 1024,
  lagEntriesMax: 4096,
  batchEntriesMax: 64,
  batchBytesMax: 4 << 20,
  onPeerLoss: 'continue',
  transferApplyBytesPerMs: 50_000,
  reuseLogBuffers: false,
  logBufferBytes: blockArenaBytes,
} as const satisfies Omit<PrimaryConfig, 'vmId'>;

export const secondaryDefaults = {
  ...pairDefaults,
  ackEntriesEvery: 16,
  ackOutputsAtOnce: false,
  aheadEntriesMax: 4096,
} as const satisfies Omit<SecondaryConfig, 'vmId' | 'nodeId'>;

function positive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) throw new ProtocolError('E_CONFIG', `${name} must be > 0, got ${value}`);
}

function checkPair(c: PairConfig): void {
  if (!c.vmId) throw new ProtocolError('E_CONFIG', 'vmId is required');
  if (c.releaseRule !== 'ack' && c.releaseRule !== 'compare') throw new ProtocolError('E_CONFIG', `bad releaseRule ${c.releaseRule}`);
  if (c.dispatchSide === 'secondary' && c.releaseRule !== 'compare')
    throw new ProtocolError('E_CONFIG', "dispatchSide 'secondary' needs releaseRule 'compare' (the secondary dispatches what it matched)");
  for (const k of ['heartbeatMs', 'peerTimeoutMs', 'retransmitMs', 'leaseRetryMs', 'leaseRenewMs'] as const) positive(k, c[k]);
  if (c.leaseGuardMs < 0) throw new ProtocolError('E_CONFIG', 'leaseGuardMs must be >= 0');
  if (c.peerTimeoutMs <= c.heartbeatMs) throw new ProtocolError('E_CONFIG', 'peerTimeoutMs must exceed heartbeatMs');
}

export function primaryConfig(c: Partial<PrimaryConfig> & { vmId: string }): PrimaryConfig {
  const full: PrimaryConfig = { ...primaryDefaults, ...c };
  checkPair(full);
  for (const k of ['heldOutputsMax', 'heldBytesMax', 'inflightEntriesMax', 'lagEntriesMax', 'batchEntriesMax', 'batchBytesMax', 'transferApplyBytesPerMs', 'logBufferBytes'] as const) positive(k, full[k]);
  return full;
}

export function secondaryConfig(c: Partial<SecondaryConfig> & { vmId: string; nodeId: string }): SecondaryConfig {
  const full: SecondaryConfig = { ...secondaryDefaults, ...c };
  checkPair(full);
  if (!full.nodeId) throw new ProtocolError('E_CONFIG', 'nodeId is required');
  for (const k of ['ackEntriesEvery', 'aheadEntriesMax'] as const) positive(k, full[k]);
  return full;
}
