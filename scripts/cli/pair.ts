/**
 * `twinstep primary` and `twinstep secondary`: a protected pair.
 *   twinstep secondary --listen 127.0.0.1:7000 --secret-file S
 *   twinstep primary --peer ws://127.0.0.1:7000 --secret-file S guests/build/c/ticker.wasm 100 20
 * The secondary needs no copy of the guest: the primary's first state transfer carries module, args, env and
 * disk. Both print role changes, lag and resyncs as one-line status messages on stderr; guest stdout/stderr
 * pass through the output gate.
 */
import { constants as osConstants } from 'node:os';
import { basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadModule, parseUnwindMode } from '../../engine/wasi/loader.ts';
import { readModuleFile } from '../../engine/wasi/boot.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { liveDevices } from '../../engine/wasi/devices.ts';
import { decodeMachineState } from '../../engine/wasi/snapshot.ts';
import { accessSync, readFileSync, constants as fsConstants } from 'node:fs';
import { parseLeaseSpec, parseLeaseSpecString } from '../../engine/lease/lease-spec.ts';
import { fenceForSpec, type Fence } from '../../engine/lease/fence.ts';
import type { Lease, LeaseRecord } from '../../engine/lease/lease.ts';
import { connect, listen } from '../../engine/net/endpoint.ts';
import { loadSecretFile } from '../../engine/net/secret.ts';
import { NetError } from '../../engine/net/errors.ts';
import { LeaseIo } from '../../engine/node/lease-io.ts';
import { SleepGate } from '../../engine/node/guest-sleep.ts';
import { PrimaryDriver } from '../../engine/node/primary-driver.ts';
import { SecondaryDriver } from '../../engine/node/secondary-driver.ts';
import { writeAllSync } from '../../engine/node/stdio-sink.ts';
import { pairDefaults, primaryConfig, primaryDefaults, secondaryConfig, type PrimaryConfig } from '../../engine/core/config.ts';
import { ProtocolError } from '../../engine/core/errors.ts';
import { parseFault } from '../../replay/fault.ts';
import { NodeFigures, primaryReport, primaryStatusLine, secondaryReport, secondaryStatusLine, serveStatus, statusListenFlag } from './pair-status.ts';
import { CliError } from './cli-error.ts';
import { checkOutputPath } from './output-path.ts';
import { EXIT } from './exit-codes.ts';
import { digestBudgetFlag, intFlag, oneOf } from './flags.ts';
import { bootTimeNs, parseRunArgs, type CommandArgs, type FlagSpec } from './run-options.ts';
import { usageLine } from './help.ts';

/** Lease default: a directory in the working directory, which two processes on one host share. */
const LEASE_DEFAULT = 'file:.twinstep-lease';
const LEASE_TTL_MS_DEFAULT = 600;
export const DIGEST_EVERY_DEFAULT = 2000;
/**
 * With the default interval, periodic digests take at most this share of the guest's time: every 2000 calls
 * of a guest that calls every 100 ns, a digest (which hashes the whole state) cost the primary more than the
 * guest. A --digest-every given on the command line is exact unless --digest-budget is given too.
 */
export const DIGEST_BUDGET_DEFAULT = 0.02;

const COMMON: Record<string, FlagSpec> = {
  '--secret-file': { takesValue: true, required: true, value: 'F', help: 'the shared secret both sides prove they hold (at least 16 bytes, e.g. head -c 32 /dev/urandom > F)' },
  '--lease': { takesValue: true, value: 'file:DIR|etcd:URL', help: `the lease that lets only one side release output or go live: a directory both hosts reach, or etcd:http://HOST:PORT[,...][/key] (default ${LEASE_DEFAULT})` },
  '--release': { takesValue: true, value: 'ack|compare', help: "when a held output goes out: once the secondary has the log up to it (ack, default) or once it produced the same bytes (compare); give both sides the same" },
  '--dispatch': { takesValue: true, value: 'primary|secondary', help: 'which side sends released outputs to the world (default primary; secondary needs --release compare); give both sides the same' },
  '--vm-id': { takesValue: true, value: 'ID', help: 'the protected VM\'s id; a peer with another id is refused (default: default)' },
  '--heartbeat-ms': { takesValue: true, value: 'MS', help: `heartbeat interval on the logging channel (default ${pairDefaults.heartbeatMs})` },
  '--peer-timeout-ms': { takesValue: true, value: 'MS', help: `silence after which the peer counts as lost (default ${pairDefaults.peerTimeoutMs}); a helper thread keeps heartbeats going while the guest computes` },
  '--transfer-apply-mbps': { takesValue: true, value: 'MB_PER_S', help: `how fast the secondary is assumed to apply a state transfer: the silence allowed meanwhile grows with its size (default ${primaryDefaults.transferApplyBytesPerMs / 1000})` },
  '--lease-ttl-ms': { takesValue: true, value: 'MS', help: `how long a lease lasts unless renewed (default ${LEASE_TTL_MS_DEFAULT}; renewed every third of it)` },
  '--digest-every': { takesValue: true, value: 'CALLS', help: `a state digest in the log every CALLS host calls (default ${DIGEST_EVERY_DEFAULT}); the secondary compares it` },
  '--digest-budget': { takesValue: true, value: 'PCT', help: `digests take at most PCT percent of the guest's time (default ${DIGEST_BUDGET_DEFAULT * 100} with the default interval, none when --digest-every is given; 100: no budget)` },
  '--quiet': { takesValue: false, help: 'print only role changes, divergences and resyncs (no status line every second)' },
  '--log-time': { takesValue: false, help: 'start every line this node prints with the time (UTC, ISO 8601, milliseconds): to line up the two sides of a failover' },
  '--checkpoint-file': { takesValue: true, value: 'F', help: "as the primary (a secondary: once it went live), write the state there now and then (atomically), so a host that comes back can rejoin with the delta only (secondary --from-snapshot F)" },
  '--checkpoint-every-ms': { takesValue: true, value: 'MS', help: 'how often --checkpoint-file is written (default 1000)' },
  '--status-listen': { takesValue: true, value: 'HOST:PORT', help: 'serve a status page, /status (JSON) and /metrics (Prometheus) there (port 0: any free port)' },
};

/** Where the epoch fence of a lease spec lives, for an operator who must clear it (engine/lease/fence.ts). */
function fenceHint(spec: string): string {
  const s = parseLeaseSpecString(spec);
  return s.kind === 'file' ? `the file ${s.dir}.fence` : `the etcd key ${s.key}.fence`;
}

function log(role: string, quiet: boolean, time: boolean): (line: string) => void {
  return (line) => {
    if (quiet && !/GOING LIVE|DIVERGENCE|unprotected|went-live|resync/i.test(line)) return;
    process.stderr.write(`${time ? `${new Date().toISOString()} ` : ''}[twinstep ${role}] ${line}\n`);
  };
}

interface Common {
  secret: Uint8Array;
  vmId: string;
  lease: LeaseIo;
  /** The lease's backend and its epoch fence (engine/lease/fence.ts). */
  leaseBackend: Lease;
  fence: Fence;
  leaseSpec: string;
  /** What both sides must run alike, checked by the channel's handshake (E_SETTINGS otherwise). */
  settings: string;
  /** Pair settings, and the primary's (this node's, or the one a secondary becomes at go-live). */
  pair: Partial<PrimaryConfig>;
  digestEveryCalls: number;
  digestBudget: number;
  quiet: boolean;
  /** --log-time: every line starts with the time. */
  logTime: boolean;
  /** Said once at start (how a flag works out on the chosen backend). */
  notes: string[];
}

async function common(flags: Map<string, string[]>, role: string): Promise<Common> {
  const secretFile = flags.get('--secret-file')?.at(-1);
  if (!secretFile) throw new CliError('missing --secret-file F (a shared secret of at least 16 bytes; e.g. head -c 32 /dev/urandom > F)', EXIT.usage);
  let secret: Uint8Array;
  try {
    secret = await loadSecretFile(secretFile);
  } catch (e) {
    throw new CliError((e as Error).message, EXIT.noInput);
  }
  const checkpointFile = flags.get('--checkpoint-file')?.at(-1);
  if (checkpointFile !== undefined) checkOutputPath(checkpointFile, '--checkpoint-file', EXIT.cantCreate, true);
  const vmId = flags.get('--vm-id')?.at(-1) ?? 'default';
  const ttlMs = intFlag(flags, '--lease-ttl-ms', LEASE_TTL_MS_DEFAULT);
  let lease;
  let fence;
  const spec = flags.get('--lease')?.at(-1) ?? LEASE_DEFAULT;
  try {
    lease = parseLeaseSpec(spec, { ttlMs });
    fence = fenceForSpec(spec);
  } catch (e) {
    throw new CliError((e as Error).message, EXIT.usage);
  }
  const holder = `${role}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const releaseRule = oneOf(flags, '--release', ['ack', 'compare'] as const, 'ack');
  const dispatchSide = oneOf(flags, '--dispatch', ['primary', 'secondary'] as const, 'primary');
  const pair: Partial<PrimaryConfig> = {
    releaseRule,
    dispatchSide,
    ...(flags.has('--heartbeat-ms') ? { heartbeatMs: intFlag(flags, '--heartbeat-ms', 50) } : {}),
    ...(flags.has('--peer-timeout-ms') ? { peerTimeoutMs: intFlag(flags, '--peer-timeout-ms', 500) } : {}),
    // How fast the secondary is assumed to apply a state transfer (MB/s): the silence allowed meanwhile.
    ...(flags.has('--transfer-apply-mbps') ? { transferApplyBytesPerMs: 1000 * intFlag(flags, '--transfer-apply-mbps', 50) } : {}),
    // Renew well inside the TTL, so one slow renewal does not drop the lease.
    leaseRenewMs: Math.max(10, Math.floor(ttlMs / 3)),
  };
  checkPairSettings(pair, vmId);
  return {
    secret,
    vmId,
    lease: new LeaseIo(lease, holder, () => Date.now(), fence),
    leaseBackend: lease,
    fence,
    settings: pairSettings(releaseRule, dispatchSide),
    leaseSpec: spec,
    pair,
    digestEveryCalls: intFlag(flags, '--digest-every', DIGEST_EVERY_DEFAULT),
    digestBudget: digestBudgetFlag(flags, ['--digest-every'], DIGEST_BUDGET_DEFAULT),
    quiet: flags.has('--quiet'),
    logTime: flags.has('--log-time'),
    notes: spec.startsWith('etcd:') && (ttlMs % 1000 !== 0 || ttlMs < 2000)
      ? [`note: etcd grants leases in whole seconds, and at least about 2 s with its default settings: --lease-ttl-ms ${ttlMs} becomes ${Math.max(1, Math.ceil(ttlMs / 1000))} s or more there, so a takeover waits that long after the primary is lost (with the file lease it waits ${ttlMs} ms)`]
      : [],
  };
}

/** The settings both sides of a pair must run alike, as the channel's handshake compares them (E_SETTINGS). */
export function pairSettings(releaseRule: 'ack' | 'compare', dispatchSide: 'primary' | 'secondary'): string {
  return `release=${releaseRule} dispatch=${dispatchSide}`;
}

/** The flag each setting comes from, for a usage error that names what to change. */
const SETTING_FLAGS: Record<string, string> = {
  heartbeatMs: '--heartbeat-ms',
  peerTimeoutMs: '--peer-timeout-ms',
  transferApplyBytesPerMs: '--transfer-apply-mbps',
  leaseRenewMs: '--lease-ttl-ms',
};

/** Settings the cores would refuse are a usage error here, before anything starts. */
function checkPairSettings(pair: Partial<PrimaryConfig>, vmId: string): void {
  try {
    primaryConfig({ ...pair, vmId });
    secondaryConfig({ ...pair, vmId, nodeId: 'check' });
  } catch (e) {
    if (!(e instanceof ProtocolError) || e.code !== 'E_CONFIG') throw e;
    const flags = Object.entries(SETTING_FLAGS).filter(([k]) => e.message.includes(k)).map(([, f]) => f);
    throw new CliError(`bad pair settings${flags.length ? ` (${flags.join(', ')})` : ''}: ${e.message.replace(/^E_CONFIG: /, '')}`, EXIT.usage);
  }
}

function emit(channel: number, data: Uint8Array): void {
  writeAllSync(channel, data);
}

export const PRIMARY_ARGS: CommandArgs = {
  flags: {
    '--peer': { takesValue: true, required: true, value: 'ws://HOST:PORT', help: 'where the secondary listens' },
    ...COMMON,
    '--on-peer-loss': { takesValue: true, value: 'continue|pause', help: 'when the secondary is lost: take the lease and run unprotected, saying so loudly (continue, default), or pause the guest until a secondary joins' },
    '--no-wait': { takesValue: false, help: 'start the guest at once, unprotected until a secondary joins (default: wait for the secondary)' },
    '--new-run': { takesValue: false, help: "start the VM afresh although its lease's fence names a run that did not end (one that crashed, or a secondary that went live): only when no node runs this VM any more" },
  },
  shared: ['--dir', '--env', '--unwind'],
  operand: 'MODULE.wasm',
  rest: 'guest',
};

export const PRIMARY_USAGE = usageLine('primary', PRIMARY_ARGS);

export const SECONDARY_ARGS: CommandArgs = {
  flags: {
    '--listen': { takesValue: true, required: true, value: 'HOST:PORT', help: 'where to wait for the primary; the primary ships the module, args, env and disk image' },
    ...COMMON,
    '--from-snapshot': { takesValue: true, value: 'F', help: "failback: a snapshot of this VM this host still holds (a primary's --checkpoint-file); only the delta is sent" },
    '--rejoin-peer': { takesValue: true, value: 'ws://HOST:PORT', help: 'after going live, re-protect by connecting to a new secondary listening there' },
    '--inject': { takesValue: true, value: 'input@SEQ|output@SEQ|memory@CALL[:ADDR]', help: 'test hook: perturb one input, output or memory byte in the replay, to see a divergence resynced' },
  },
  shared: [],
  operand: null,
  rest: false,
};

export const SECONDARY_USAGE = usageLine('secondary', SECONDARY_ARGS);

/**
 * A peer address flag (--peer, --rejoin-peer): ws://HOST:PORT with a port a peer can listen on. Checked at start:
 * a bad one was retried (--peer) or only found out at go-live (--rejoin-peer).
 */
function peerAddressFlag(flags: Map<string, string[]>, name: string): string | undefined {
  const v = flags.get(name)?.at(-1);
  if (v === undefined) return undefined;
  const m = /^ws:\/\/([^/:\[\]]+|\[[0-9a-fA-F:.]+\]):(\d+)\/?$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new CliError(`${name} expects ws://HOST:PORT with a port from 1 to 65535, got '${v}'`, EXIT.usage);
  return v;
}

export async function primaryCommand(argv: readonly string[]): Promise<number> {
  const { run, flags } = parseRunArgs(argv, PRIMARY_ARGS);
  const peer = peerAddressFlag(flags, '--peer');
  if (!peer) throw new CliError('missing --peer ws://HOST:PORT (where the secondary listens)', EXIT.usage);
  const statusAt = statusListenFlag(flags);
  const c = await common(flags, 'primary');
  const onPeerLoss = oneOf(flags, '--on-peer-loss', ['continue', 'pause'] as const, 'continue');
  const module = await loadModule(readModuleFile(run.module), run.unwind);
  const sleep = new SleepGate(liveDevices());
  const machine = WasiMachine.create(module, {
    config: { args: [basename(run.module), ...run.args], env: run.env, preopens: run.preopens, bootTimeNs: bootTimeNs() },
    devices: sleep.devices,
  });
  const say = log('primary', c.quiet, c.logTime);
  for (const n of c.notes) say(n);
  const held = await checkLease(c);
  const startEpoch = await firstEpoch(c, held, flags.has('--new-run'), say);
  let epoch = 0;
  // Live figures for the status line and page: how long outputs were held (entering the gate to release), how
  // late this process's event loop ran (a stall here or on the secondary's host is what a long hold is), totals.
  const figures = new NodeFigures();
  const nodeId = `primary-${process.pid}`;
  // Deposed (another node took the lease): this node may never release again, so it has nothing left to do.
  // It stops at once and exits with EXIT.deposed, so a supervisor can tell it from a guest exit and restart
  // the host as a secondary (a deposed primary that waited, paused, for ever was only visible on its status page).
  let onDeposed: (held: number) => void = () => {};
  const deposed = new Promise<number>((resolve) => {
    onDeposed = (held) => {
      onDeposed = () => {};
      say(`DEPOSED: another node took the lease of vm ${c.vmId} at a newer epoch (a secondary that went live, or another primary of it); this node released nothing since and never will (${held} outputs held stay unreleased: the new primary owns them). Stopping; restart this host as a secondary of the new primary. Exit ${EXIT.deposed}`);
      queueMicrotask(() => {
        driver.stop();
        resolve(EXIT.deposed);
      });
    };
  });
  const driver = new PrimaryDriver({
    machine,
    module,
    sleep,
    vmId: c.vmId,
    nodeId,
    core: { ...c.pair, onPeerLoss },
    start: { mode: 'unprotected', epoch: startEpoch },
    lease: c.lease,
    connect: () => connect(peer, { secret: c.secret, vmId: c.vmId, settings: c.settings, role: 'primary', epoch: () => epoch, minPeerEpoch: 0 }),
    emit,
    log: say,
    digestEveryCalls: c.digestEveryCalls,
    digestBudget: c.digestBudget,
    waitForSecondary: !flags.has('--no-wait'),
    onStatus: (s) => {
      epoch = s.epoch;
      if (s.deposed) onDeposed(s.heldOutputs);
    },
    ...figures.hooks,
    checkpointFile: flags.get('--checkpoint-file')?.at(-1),
    checkpointEveryMs: intFlag(flags, '--checkpoint-every-ms', 1000),
  });
  const id = { vmId: c.vmId, nodeId, releaseRule: c.pair.releaseRule ?? 'ack', dispatchSide: c.pair.dispatchSide ?? 'primary' };
  const server = statusAt ? await serveStatus(statusAt, () => primaryReport(id, driver, figures), say).catch(async (e) => {
    figures.stop();
    await c.lease.close().catch(() => undefined);
    throw e;
  }) : undefined;
  say(`protecting ${basename(run.module)} (vm ${c.vmId}, release rule ${c.pair.releaseRule}); waiting for the secondary at ${peer}`);
  const statusTimer = setInterval(() => {
    figures.roll();
    const s = driver.status;
    if (s && !c.quiet) say(primaryStatusLine(s, figures));
  }, 1000);
  // SIGTERM and SIGINT are a planned stop of this host: a switch-over to the secondary (PrimaryDriver.switchOver),
  // which goes live with nothing to repeat; exit 128 + the signal's number. A second one stops at once.
  let stopSignal: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopSignal !== undefined) {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      process.kill(process.pid, sig);
      return;
    }
    stopSignal = sig;
    const peerTimeoutMs = c.pair.peerTimeoutMs ?? pairDefaults.peerTimeoutMs;
    say(`${sig}: stopping the guest at its next host call and switching over to the secondary once it holds every output (${sig} again to stop at once)`);
    driver.switchOver(128 + osConstants.signals[sig], Math.max(2000, 4 * peerTimeoutMs), say);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const code = await Promise.race([driver.run(), deposed]);
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  clearInterval(statusTimer);
  figures.stop();
  await server?.close();
  await c.lease.close().catch(() => undefined);
  if (driver.status?.deposed) return EXIT.deposed;
  if (stopSignal !== undefined && code === 128 + osConstants.signals[stopSignal]) return code;
  say(`guest exited with ${code}; every output released`);
  return code & 0xff;
}

/**
 * The epoch a new run of the VM starts at: 1 on a fresh lease, the next after a run that ended cleanly. A fence
 * left by a run that did not end (a primary that crashed or was stopped, a secondary that went live and may still
 * run the VM) refuses the start unless `newRun` (the operator says no node runs the VM any more); the lease
 * itself still refuses a node that holds it now.
 */
async function firstEpoch(c: Common, held: LeaseRecord | null, newRun: boolean, say: (line: string) => void): Promise<number> {
  const refuse = async (message: string, code: number): Promise<never> => {
    await c.lease.close().catch(() => undefined);
    throw new CliError(message, code);
  };
  let f;
  try {
    f = await c.fence.read();
  } catch (e) {
    return refuse(`cannot read the lease's fence (${fenceHint(c.leaseSpec)}): ${(e as Error).message}`, EXIT.unavailable);
  }
  const epoch = f ? f.epoch + 1 : 1;
  if (f && !f.ended && !newRun) {
    return refuse(
      `vm ${c.vmId} already has a run on this lease that did not end: epoch ${f.epoch} was granted to ${f.holder} (${fenceHint(c.leaseSpec)}). ` +
        `A node may still run it (a secondary that went live): then start this host as its secondary. If no node runs it any more and it is to start afresh, add --new-run.`,
      EXIT.deposed,
    );
  }
  if (f?.ended) say(`the last run of vm ${c.vmId} on this lease ended (epoch ${f.epoch}): this one starts at epoch ${epoch}`);
  else if (f) say(`--new-run: the run of vm ${c.vmId} at epoch ${f.epoch} (${f.holder}) did not end; starting afresh at epoch ${epoch}`);
  // A lease still held is either a node that runs the VM (it renews it: refused) or one that stopped without
  // giving it up (a crash): its grant runs out within the lease's TTL.
  let first: LeaseRecord | null = null;
  for (let cur = held; ; ) {
    if (!cur) return epoch;
    if (first && (cur.holder !== first.holder || cur.expiresAtMs !== first.expiresAtMs)) {
      return refuse(`the lease of vm ${c.vmId} (${c.leaseSpec}) is held by ${cur.holder}, which renews it: a node runs this VM. Start this host as its secondary.`, EXIT.deposed);
    }
    if (!first) say(`the lease is held by ${cur.holder} until ${Math.max(0, cur.expiresAtMs - Date.now())} ms from now: waiting for it to run out (a holder that renews it refuses this start)`);
    first = cur;
    await new Promise((r) => setTimeout(r, Math.min(250, Math.max(10, first!.expiresAtMs - Date.now() + 10))));
    try {
      cur = await c.leaseBackend.current();
    } catch (e) {
      return refuse(`lease ${c.leaseSpec} cannot be used: ${(e as Error).message}`, EXIT.unavailable);
    }
  }
}

/**
 * Refuses a lease that cannot be used at startup (a directory that cannot be created or written, etcd down);
 * resolves who holds it now (null: nobody).
 */
async function checkLease(c: Common): Promise<LeaseRecord | null> {
  let timer: NodeJS.Timeout | undefined;
  let answered = false;
  try {
    const held = await Promise.race([
      c.leaseBackend.current().finally(() => (answered = true)),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${LEASE_CHECK_MS / 1000} s`)), LEASE_CHECK_MS);
      }),
    ]) as LeaseRecord | null;
    const s = parseLeaseSpecString(c.leaseSpec);
    if (s.kind === 'file') accessSync(s.dir, fsConstants.W_OK);
    return held;
  } catch (e) {
    // (A backend that never answered would hold the close up too.)
    if (answered) await c.lease.close().catch(() => undefined);
    throw new CliError(`lease ${c.leaseSpec} cannot be used: ${(e as Error).message}`, EXIT.unavailable);
  } finally {
    clearTimeout(timer);
  }
}

/** How long the startup check waits for the lease backend (an unreachable etcd, a file system that hangs). */
const LEASE_CHECK_MS = 10_000;

export async function secondaryCommand(argv: readonly string[]): Promise<number> {
  const { flags } = parseRunArgs(argv, SECONDARY_ARGS);
  const listenAt = flags.get('--listen')?.at(-1);
  if (!listenAt) throw new CliError('missing --listen HOST:PORT', EXIT.usage);
  const m = /^(?:ws:\/\/)?([^:/]+|\[[^\]]+\]):(\d+)\/?$/.exec(listenAt);
  if (!m || Number(m[2]) > 65535) throw new CliError(`--listen expects HOST:PORT with a port from 0 to 65535, got '${listenAt}'`, EXIT.usage);
  const rejoinPeer = peerAddressFlag(flags, '--rejoin-peer');
  const statusAt = statusListenFlag(flags);
  const c = await common(flags, 'secondary');
  await checkLease(c);
  const inject = flags.get('--inject')?.at(-1);
  let fault;
  try {
    fault = inject ? parseFault(inject) : undefined;
  } catch (e) {
    throw new CliError((e as Error).message.replace('--fault', '--inject'), EXIT.usage);
  }
  const say = log('secondary', c.quiet, c.logTime);
  for (const n of c.notes) say(n);
  const sleep = new SleepGate(liveDevices());
  // Failback: a host that comes back with an older snapshot of this VM advertises it, so only the delta comes.
  const from = flags.get('--from-snapshot')?.at(-1);
  let initial;
  if (from) {
    try {
      const { data, state } = decodeMachineState(readFileSync(from));
      if (!data.moduleBytes) throw new Error('the snapshot does not carry the guest module');
      const module = await loadModule(data.moduleBytes, parseUnwindMode(data.config.unwind || 'all'));
      initial = { machine: WasiMachine.restore(module, state, sleep.devices, undefined, true), module };
      say(`holding a snapshot of vm ${data.vmId || c.vmId} at host call ${state.callIndex}: asking for the delta only`);
    } catch (e) {
      throw new CliError(`--from-snapshot ${from}: ${(e as Error).message}`, EXIT.dataError);
    }
  }
  const figures = new NodeFigures();
  const nodeId = `secondary-${process.pid}`;
  const driver = new SecondaryDriver({
    initial,
    rejoin: rejoinPeer ? () => connect(rejoinPeer, { secret: c.secret, vmId: c.vmId, settings: c.settings, role: 'primary', epoch: 0, minPeerEpoch: 0 }) : undefined,
    checkpointFile: flags.get('--checkpoint-file')?.at(-1),
    checkpointEveryMs: intFlag(flags, '--checkpoint-every-ms', 1000),
    vmId: c.vmId,
    nodeId,
    core: c.pair,
    primaryCore: c.pair,
    sleep,
    lease: c.lease,
    // What this node sends out while it is a secondary (--dispatch secondary: the outputs it matched) counts as
    // released by it; once live, its primary driver counts its own (liveHooks).
    emit: (channel, data) => {
      if (!driver.primary) figures.dispatched();
      emit(channel, data);
    },
    log: say,
    fault,
    digestEveryCalls: c.digestEveryCalls,
    digestBudget: c.digestBudget,
    onStatus: (s) => figures.sawSecondary(s),
    liveHooks: figures.hooks,
  });
  let listener;
  try {
    listener = await listen(`ws://${m[1]}:${m[2]}`, { secret: c.secret, vmId: c.vmId, settings: c.settings, role: 'secondary', epoch: 0, minPeerEpoch: 0 });
  } catch (e) {
    throw new CliError((e as Error).message, e instanceof NetError ? EXIT.unavailable : EXIT.software);
  }
  const id = { vmId: c.vmId, nodeId, releaseRule: c.pair.releaseRule ?? 'ack', dispatchSide: c.pair.dispatchSide ?? 'primary' };
  const server = statusAt ? await serveStatus(statusAt, () => secondaryReport(id, driver, figures), say).catch(async (e) => {
    figures.stop();
    await listener.close().catch(() => undefined);
    await c.lease.close().catch(() => undefined);
    throw e;
  }) : undefined;
  listener.onConnection((t) => driver.attach(t));
  // The same refusal again and again (a peer that keeps retrying) is said once every 10 s, with a count.
  let refusedLast = '';
  let refusedAtMs = -Infinity;
  let refusedRepeats = 0;
  listener.onRefused((err) => {
    const line = `refused a peer: ${err.code}: ${err.message}`;
    const now = Date.now();
    if (line === refusedLast && now - refusedAtMs < 10_000) {
      refusedRepeats++;
      return;
    }
    say(refusedRepeats > 0 ? `${line} (and ${refusedRepeats} more times since the last such line)` : line);
    refusedLast = line;
    refusedAtMs = now;
    refusedRepeats = 0;
  });
  say(`listening on ${listener.url} for the primary of vm ${c.vmId}`);
  const statusTimer = setInterval(() => {
    figures.roll();
    if (c.quiet) return;
    // After go-live this node is the primary: its status line is a primary's.
    const live = driver.primary?.status;
    if (live) return say(primaryStatusLine(live, figures));
    const s = driver.status;
    if (s) say(secondaryStatusLine(s, figures));
  }, 1000);
  const code = await driver.run();
  clearInterval(statusTimer);
  figures.stop();
  await server?.close();
  await listener.close().catch(() => undefined);
  await c.lease.close().catch(() => undefined);
  say(driver.endedOnPrimary ? `guest exited with ${code} on the primary, every output released: done` : `guest exited with ${code} after go-live`);
  return code & 0xff;
}
