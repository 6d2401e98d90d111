/**
 * What `twinstep primary` and `twinstep secondary` report about themselves: the one-line status messages on
 * stderr (once a second) and, with `--status-listen HOST:PORT`, the status page, its JSON and the Prometheus
 * metrics (engine/node/status-server.ts). Both come from the same figures:
 *   - the driver's status (positions, mode or state, lease, warnings), read when asked;
 *   - per status interval (one second): output hold p50/p99/max and how late the event loop ran;
 *   - totals since the process started: outputs released and their hold time, log bytes sent, checkpoints by
 *     kind and the state bytes they sent, restores on a secondary.
 * docs/OPERATIONS.md lists every metric and what to alert on.
 */
import { LatencyHistogram, eventLoopDelay, formatLatency, formatLoopLate, type LatencySummary } from '../../engine/node/latency-histogram.ts';
import { counter, gauge, stateSet, type Metric } from '../../engine/node/metrics.ts';
import { startStatusServer, type NodeReport, type StatusServer } from '../../engine/node/status-server.ts';
import type { PrimaryDriver, PrimaryDriverOptions } from '../../engine/node/primary-driver.ts';
import type { SecondaryDriver } from '../../engine/node/secondary-driver.ts';
import type { PrimaryStatus } from '../../engine/core/primary-types.ts';
import type { PrimaryMode, SecondaryState } from '../../engine/core/messages.ts';
import type { SecondaryStatus } from '../../engine/core/secondary-types.ts';
import { CliError } from './cli-error.ts';
import { EXIT } from './exit-codes.ts';

const PRIMARY_MODES: readonly PrimaryMode[] = ['unprotected', 'protecting', 'protected', 'resyncing'];
const SECONDARY_STATES: readonly SecondaryState[] = ['joining', 'transferring', 'restoring', 'replicating', 'diverged', 'candidate', 'finishing', 'live', 'failed', 'ended'];
const CHECKPOINT_KINDS = ['full', 'diff', 'delta'] as const;
const EMPTY_SUMMARY: LatencySummary = { count: 0, p50: NaN, p99: NaN, max: NaN };

/** The figures of one node: interval ones rolled each second, totals since start. */
export class NodeFigures {
  private readonly hold = new LatencyHistogram();
  private readonly loop = eventLoopDelay();
  /** The last complete interval (one second): hold figures of the outputs released in it, event-loop lateness. */
  interval = { hold: EMPTY_SUMMARY, loopLateMs: 0 };
  outputsReleased = 0;
  holdMsSum = 0;
  logBytesSent = 0;
  readonly checkpoints: Record<(typeof CHECKPOINT_KINDS)[number], number> = { full: 0, diff: 0, delta: 0 };
  stateBytesSent = 0;
  lastStunMs = NaN;
  /** Secondary: times it went into 'restoring' (a protect, resync or failback applied). */
  restores = 0;
  private lastState: SecondaryState | undefined;

  /** Hooks for a primary driver (the CLI's, or the one a secondary becomes at go-live). */
  readonly hooks: Required<Pick<PrimaryDriverOptions, 'onHeld' | 'onSent' | 'onCheckpoint'>> = {
    onHeld: (ms) => {
      this.hold.add(ms);
      this.outputsReleased++;
      this.holdMsSum += ms;
    },
    onSent: (bytes) => {
      this.logBytesSent += bytes;
    },
    onCheckpoint: (f) => {
      this.checkpoints[f.kind]++;
      this.stateBytesSent += f.sentBytes;
      if (f.stun) this.lastStunMs = f.stunMs;
    },
  };

  /**
   * Outputs this node sent out as a secondary (--dispatch secondary: the ones it matched). Released by this node
   * too, but with no hold time here: counted apart from the hold-timed ones (outputsReleased).
   */
  outputsDispatched = 0;

  dispatched(): void {
    this.outputsDispatched++;
  }

  /** A secondary's status as it changes (counts restores). */
  sawSecondary(s: SecondaryStatus): void {
    if (s.state === 'restoring' && this.lastState !== 'restoring') this.restores++;
    this.lastState = s.state;
  }

  /** Ends an interval: its figures become `interval`. */
  roll(): void {
    this.interval = { hold: this.hold.take(), loopLateMs: this.loop.takeMs() };
  }

  stop(): void {
    this.loop.stop();
  }

  /** "; hold p50 … over N outputs; event loop late by up to X ms" for the status line. */
  lineSuffix(withHold: boolean): string {
    const held = withHold ? formatLatency(this.interval.hold) : '';
    return `${held ? `; hold ${held}` : ''}${formatLoopLate(this.interval.loopLateMs)}`;
  }
}

/** The primary's one-line status message (once a second on stderr). */
export function primaryStatusLine(s: PrimaryStatus, f: NodeFigures): string {
  return `status: ${s.mode}, epoch ${s.epoch}, seq ${s.nextSeq}, acked ${s.receivedSeq}, matched ${s.matchedSeq}, released ${s.releasedSeq}, held ${s.heldOutputs}${f.lineSuffix(true)}${s.warnings.length ? `; ${s.warnings.join('; ')}` : ''}`;
}

/** Entries a secondary received and has not replayed yet: what a go-live replays first. */
function replayLag(s: SecondaryStatus): number {
  return Math.max(0, s.receivedSeq - s.replayedSeq);
}

/** The secondary's one-line status message (once a second on stderr). */
export function secondaryStatusLine(s: SecondaryStatus, f: NodeFigures): string {
  return `status: ${s.state}, epoch ${s.epoch}, received ${s.receivedSeq}, replayed ${s.replayedSeq}, lag ${replayLag(s)} entries${f.lineSuffix(false)}${s.warnings.length ? `; ${s.warnings.join('; ')}` : ''}`;
}

export interface NodeIdentity {
  readonly vmId: string;
  readonly nodeId: string;
  readonly releaseRule: string;
  readonly dispatchSide: string;
}

const sec = (ms: number) => ms / 1000;

function commonMetrics(role: 'primary' | 'secondary', id: NodeIdentity, f: NodeFigures, warnings: readonly string[], epoch: number, leaseHeld: boolean, standInBeats: number): Metric[] {
  return [
    gauge('twinstep_node_info', 'This node: its role, VM, node id and pair settings (always 1).', 1, {
      role,
      vm_id: id.vmId,
      node_id: id.nodeId,
      release_rule: id.releaseRule,
      dispatch: id.dispatchSide,
    }),
    gauge('twinstep_uptime_seconds', 'Seconds since this process started.', Math.round(process.uptime() * 1000) / 1000),
    gauge('twinstep_epoch', 'Epoch of the pair this node is in (it grows at every failover).', epoch),
    gauge('twinstep_lease_held', '1 while this node holds the lease (only the holder releases output or goes live).', leaseHeld ? 1 : 0),
    gauge('twinstep_warnings', 'Warnings this node reports now (the status page lists them); 0 when all is well.', warnings.length),
    gauge('twinstep_event_loop_late_seconds', 'How late this process ran its timers at most over the last second (a host stall delays acks, heartbeats and outputs this long).', sec(f.interval.loopLateMs)),
    counter('twinstep_stand_in_heartbeats_total', 'Heartbeats a helper thread sent for this node while its guest ran (or was replayed) for a heartbeat interval or longer without a host call.', standInBeats),
  ];
}

function primaryMetrics(s: PrimaryStatus | undefined, f: NodeFigures, hostCalls: number): Metric[] {
  const h = f.interval.hold;
  return [
    stateSet('twinstep_primary_mode', 'Mode of the primary: 1 for the mode it is in.', 'mode', PRIMARY_MODES, s?.mode ?? ''),
    gauge('twinstep_protected', '1 while a secondary protects the guest (mode protected): alert when it stays 0.', s?.mode === 'protected' ? 1 : 0),
    gauge('twinstep_deposed', '1 once another node took the lease: this node must never release again.', s?.deposed ? 1 : 0),
    counter('twinstep_guest_host_calls_total', 'Host calls the guest has made.', hostCalls),
    gauge('twinstep_log_next_seq', 'Sequence number the next log entry gets.', s?.nextSeq ?? 0),
    gauge('twinstep_log_acked_seq', 'Highest entry the secondary acknowledged receiving.', s?.receivedSeq ?? -1),
    gauge('twinstep_log_matched_seq', 'Highest entry the secondary replayed with identical results.', s?.matchedSeq ?? -1),
    gauge('twinstep_outputs_released_seq', 'Highest entry up to which outputs left the gate.', s?.releasedSeq ?? -1),
    gauge('twinstep_log_inflight_entries', 'Entries sent and not yet acknowledged (the guest pauses at the in-flight bound).', s?.inflightEntries ?? 0),
    gauge('twinstep_outputs_held', 'Outputs waiting in the gate for the secondary.', s?.heldOutputs ?? 0),
    gauge('twinstep_outputs_held_bytes', 'Bytes of the outputs waiting in the gate.', s?.heldBytes ?? 0),
    counter('twinstep_outputs_released_total', 'Outputs this node released to the outside world (as a secondary dispatching them too).', f.outputsReleased + f.outputsDispatched),
    {
      name: 'twinstep_output_hold_seconds',
      help: 'Time from an output entering the gate to its release: quantiles over the last second, sum and count since start.',
      type: 'summary',
      samples: [
        { labels: { quantile: '0.5' }, value: sec(h.p50) },
        { labels: { quantile: '0.99' }, value: sec(h.p99) },
        { labels: { quantile: '1' }, value: sec(h.max) },
        { suffix: '_sum', value: sec(f.holdMsSum) },
        { suffix: '_count', value: f.outputsReleased },
      ],
    },
    counter('twinstep_log_sent_bytes_total', 'Bytes sent on the logging channel (entries, heartbeats, state transfers).', f.logBytesSent),
    {
      name: 'twinstep_checkpoints_total',
      help: 'Checkpoints sent to a secondary, by kind: full (protect), diff (resync or failback), delta (final stun of a re-protect).',
      type: 'counter',
      samples: CHECKPOINT_KINDS.map((k) => ({ labels: { kind: k }, value: f.checkpoints[k] })),
    },
    counter('twinstep_state_sent_bytes_total', 'State bytes those checkpoints sent.', f.stateBytesSent),
    gauge('twinstep_last_stun_seconds', 'How long the guest stood still for the last stunned checkpoint (NaN before the first).', sec(f.lastStunMs)),
  ];
}

function primaryRows(s: PrimaryStatus | undefined, f: NodeFigures, hostCalls: number): Array<[string, string]> {
  const h = f.interval.hold;
  const ms = (x: number) => (Number.isNaN(x) ? '-' : `${x.toFixed(2)} ms`);
  return [
    ['epoch', String(s?.epoch ?? '-')],
    ['lease', s?.leaseHeld ? 'held' : 'not held'],
    ['guest host calls', String(hostCalls)],
    ['log: next seq / acked / matched', s ? `${s.nextSeq} / ${s.receivedSeq} / ${s.matchedSeq}` : '-'],
    ['outputs released up to seq', String(s?.releasedSeq ?? '-')],
    ['outputs held (bytes)', s ? `${s.heldOutputs} (${s.heldBytes})` : '-'],
    ['entries in flight', String(s?.inflightEntries ?? '-')],
    ['output hold, last second', h.count ? `p50 ${ms(h.p50)}, p99 ${ms(h.p99)}, max ${ms(h.max)} over ${h.count}` : 'no outputs'],
    ['outputs released in all', String(f.outputsReleased + f.outputsDispatched)],
    ['log bytes sent', String(f.logBytesSent)],
    ['checkpoints full / diff / delta', `${f.checkpoints.full} / ${f.checkpoints.diff} / ${f.checkpoints.delta}`],
    ['last stun', ms(f.lastStunMs)],
    ['event loop late, last second', ms(f.interval.loopLateMs)],
  ];
}

function intervalJson(f: NodeFigures) {
  const h = f.interval.hold;
  return {
    seconds: 1,
    outputHoldMs: h.count ? { p50: h.p50, p99: h.p99, max: h.max, count: h.count } : null,
    eventLoopLateMs: f.interval.loopLateMs,
  };
}

function totalsJson(f: NodeFigures) {
  return {
    outputsReleased: f.outputsReleased + f.outputsDispatched,
    /** Of those, sent out as a secondary (--dispatch secondary), with no hold time on this node. */
    outputsDispatched: f.outputsDispatched,
    outputHoldMsSum: f.holdMsSum,
    logBytesSent: f.logBytesSent,
    checkpoints: { ...f.checkpoints },
    stateBytesSent: f.stateBytesSent,
    lastStunMs: Number.isNaN(f.lastStunMs) ? null : f.lastStunMs,
    restores: f.restores,
  };
}

/** The report of a primary (`tookOver`: a secondary that went live and now runs the guest). */
export function primaryReport(id: NodeIdentity, driver: PrimaryDriver, f: NodeFigures, tookOver = false): NodeReport {
  const s = driver.status;
  const hostCalls = driver.hostCalls;
  const warnings = s?.warnings ?? [];
  const state = s ? `${s.mode}${s.deposed ? ' (deposed)' : ''}` : 'starting';
  return {
    title: `twinstep ${tookOver ? 'primary (took over: was the secondary)' : 'primary'}, vm ${id.vmId}`,
    state,
    warnings,
    json: { role: 'primary', tookOver, vmId: id.vmId, nodeId: id.nodeId, pid: process.pid, releaseRule: id.releaseRule, dispatchSide: id.dispatchSide, uptimeS: process.uptime(), state, hostCalls, status: s ?? null, interval: intervalJson(f), totals: totalsJson(f), warnings },
    metrics: [
      ...commonMetrics('primary', id, f, warnings, s?.epoch ?? 0, s?.leaseHeld ?? false, driver.standInBeats ?? 0),
      gauge('twinstep_took_over', '1 when this node was the secondary and went live.', tookOver ? 1 : 0),
      ...primaryMetrics(s, f, hostCalls),
    ],
    rows: primaryRows(s, f, hostCalls),
  };
}

/** The report of a secondary; once it went live, the report of the primary it became. */
export function secondaryReport(id: NodeIdentity, driver: SecondaryDriver, f: NodeFigures): NodeReport {
  if (driver.primary) return primaryReport(id, driver.primary, f, true);
  const s = driver.status;
  const warnings = s?.warnings ?? [];
  const state = s?.state ?? 'starting';
  const lag = s ? replayLag(s) : 0;
  return {
    title: `twinstep secondary, vm ${id.vmId}`,
    state,
    warnings,
    json: { role: 'secondary', vmId: id.vmId, nodeId: id.nodeId, pid: process.pid, releaseRule: id.releaseRule, dispatchSide: id.dispatchSide, uptimeS: process.uptime(), state, replayLagEntries: lag, status: s ?? null, interval: intervalJson(f), totals: totalsJson(f), warnings },
    metrics: [
      ...commonMetrics('secondary', id, f, warnings, s?.epoch ?? 0, s?.leaseHeld ?? false, driver.standInBeats ?? 0),
      stateSet('twinstep_secondary_state', 'State of the secondary: 1 for the state it is in.', 'state', SECONDARY_STATES, state),
      gauge('twinstep_log_received_seq', 'Highest log entry received in order.', s?.receivedSeq ?? -1),
      gauge('twinstep_log_replayed_seq', 'Highest log entry replayed.', s?.replayedSeq ?? -1),
      gauge('twinstep_log_acked_matched_seq', 'Highest replayed entry acknowledged to the primary as matching.', s?.ackedMatchedSeq ?? -1),
      gauge('twinstep_outputs_known_released_seq', 'Highest entry the primary said it released up to (a go-live repeats nothing at or below it).', s?.knownReleasedSeq ?? -1),
      gauge('twinstep_replay_lag_entries', 'Entries received and not yet replayed: what a go-live would replay first.', lag),
      gauge('twinstep_outputs_pending', 'Replayed outputs not yet known as released by the primary.', s?.pendingOutputs ?? 0),
      counter('twinstep_restores_total', 'States this node restored (protect, resync, failback).', f.restores),
      counter('twinstep_outputs_released_total', 'Outputs this node released to the outside world (--dispatch secondary: the ones it matched).', f.outputsDispatched),
    ],
    rows: [
      ['epoch', String(s?.epoch ?? '-')],
      ['lease', s?.leaseHeld ? 'held' : 'not held'],
      ['log: received / replayed', s ? `${s.receivedSeq} / ${s.replayedSeq}` : '-'],
      ['replay lag (entries)', String(lag)],
      ['acked as matching up to seq', String(s?.ackedMatchedSeq ?? '-')],
      ['primary released up to seq', String(s?.knownReleasedSeq ?? '-')],
      ['outputs pending', String(s?.pendingOutputs ?? '-')],
      ['restores', String(f.restores)],
      ['outputs dispatched', String(f.outputsDispatched)],
      ['event loop late, last second', `${f.interval.loopLateMs.toFixed(2)} ms`],
    ],
  };
}

/** Parses `--status-listen HOST:PORT` (port 0: any free port); undefined when the flag is absent. */
export function statusListenFlag(flags: Map<string, string[]>): { host: string; port: number } | undefined {
  const v = flags.get('--status-listen')?.at(-1);
  if (v === undefined) return undefined;
  const m = /^(?:http:\/\/)?([^:/[\]]+|\[[^\]]+\]):(\d+)\/?$/.exec(v);
  if (!m || Number(m[2]) > 65535) throw new CliError(`--status-listen expects HOST:PORT (port 0 to 65535; 0 picks a free one), got '${v}'`, EXIT.usage);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** Starts the status server for `--status-listen`, or fails the command with a clear message. */
export async function serveStatus(at: { host: string; port: number }, report: () => NodeReport, say: (line: string) => void): Promise<StatusServer> {
  let server: StatusServer;
  try {
    server = await startStatusServer(at.host, at.port, report);
  } catch (e) {
    throw new CliError(`--status-listen: ${(e as Error).message}`, EXIT.unavailable);
  }
  say(`status page at ${server.url} (JSON at ${server.url}status, Prometheus metrics at ${server.url}metrics)`);
  return server;
}
