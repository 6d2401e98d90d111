/** `twinstep inspect`: a trace's header and a summary, or its entries as JSON lines. */
import { existsSync } from 'node:fs';
import { TraceReader } from '../../engine/log/trace-reader.ts';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';
import { decodeDigestPayload } from '../../engine/log/digest-payload.ts';
import { CliError } from './cli-error.ts';
import { writeAllSync } from '../../engine/node/stdio-sink.ts';
import { parseRunArgs, type CommandArgs } from './run-options.ts';
import { usageLine } from './help.ts';
import { REPLAY_EXIT } from './replay.ts';

export const INSPECT_ARGS: CommandArgs = {
  flags: {
    '--entries': { takesValue: false, help: 'print every entry as a JSON line instead of the summary' },
    '--json': { takesValue: false, help: 'print the header and summary as JSON' },
  },
  shared: [],
  operand: 'TRACE',
  rest: false,
};

export const INSPECT_USAGE = usageLine('inspect', INSPECT_ARGS);
const KIND = ['input', 'output', 'digest'] as const;
const hex = (v: bigint) => v.toString(16).padStart(16, '0');

function entryJson(e: LogEntry): Record<string, unknown> {
  const base: Record<string, unknown> = { seq: e.seq, callIndex: e.callIndex, kind: KIND[e.kind], call: e.call };
  if (e.kind === EntryKind.Output) {
    base.channel = e.channel;
    base.text = Buffer.from(e.data).toString('utf8');
  } else if (e.kind === EntryKind.Input) {
    base.request = Buffer.from(e.request).toString('hex');
    base.data = Buffer.from(e.data).toString('hex');
  } else {
    try {
      const d = decodeDigestPayload(e.data);
      base.root = hex(d.root);
      base.pagesChanged = d.pages.length;
      base.filesChanged = d.files.map(([p]) => p);
    } catch (err) {
      base.malformed = (err as Error).message;
    }
  }
  return base;
}

export async function inspectCommand(argv: readonly string[]): Promise<number> {
  const { run, flags } = parseRunArgs(argv, INSPECT_ARGS);
  const path = run.module;
  if (!existsSync(path)) throw new CliError(`cannot read trace '${path}': no such file`, REPLAY_EXIT.unusable);
  let reader: TraceReader;
  try {
    reader = TraceReader.open(path, { decodeThread: true });
  } catch (e) {
    throw new CliError(`cannot read trace '${path}': ${(e as Error).message}`, REPLAY_EXIT.unusable);
  }
  try {
    const h = reader.header;
    const counts = [0, 0, 0];
    const channels = new Map<number, { count: number; bytes: number }>();
    const calls = new Map<string, number>();
    let lastCall = -1;
    let monoFirst: bigint | undefined;
    let monoLast: bigint | undefined;
    let end = '';
    const entries = flags.has('--entries');
    for (let e = reader.next(); e; e = reader.next()) {
      // A reader that went away (`| head`) ends the listing, quietly.
      if (entries && !writeAllSync(1, Buffer.from(JSON.stringify(entryJson(e)) + '\n'))) return 0;
      counts[e.kind]++;
      lastCall = e.callIndex;
      if (e.kind !== EntryKind.Digest) calls.set(e.call, (calls.get(e.call) ?? 0) + 1);
      if (e.kind === EntryKind.Output) {
        const c = channels.get(e.channel) ?? { count: 0, bytes: 0 };
        c.count++;
        c.bytes += e.data.length;
        channels.set(e.channel, c);
        if (e.channel < 0) end = e.channel === -1 ? `exit ${new DataView(e.data.buffer, e.data.byteOffset, 4).getInt32(0, true)}` : `${e.call}: ${Buffer.from(e.data).toString('utf8')}`;
      }
      // Duration as the guest saw it: the span of its monotonic clock reads.
      if (e.kind === EntryKind.Input && e.call === 'clock_time_get' && e.request[0] === 1 && e.data.length === 8) {
        const t = new DataView(e.data.buffer, e.data.byteOffset, 8).getBigUint64(0, true);
        monoFirst ??= t;
        monoLast = t;
      }
    }
    const tail = reader.tail;
    if (entries) {
      // The listing holds the entries before a damaged tail; the exit code and stderr say it stopped short.
      if (tail.state === 'clean') return 0;
      process.stderr.write(`twinstep inspect: ${path}: the entries stop at a damaged tail: ${tail.state}${'reason' in tail ? `: ${tail.reason}` : ''}${'offset' in tail ? ` (byte ${tail.offset})` : ''}\n`);
      return REPLAY_EXIT.unusable;
    }
    const s = reader.stats;
    const summary = {
      trace: path,
      formatVersion: reader.formatVersion,
      createdBy: h.createdBy,
      vmId: h.vmId,
      module: { path: h.modulePath, hash: hex(h.moduleHash), bytes: h.moduleSizeBytes },
      args: h.args,
      env: h.env,
      preopens: h.preopens,
      diskDigest: hex(h.diskDigest),
      machine: { ...h.machine, clockResolutionNs: String(h.machine.clockResolutionNs), bootTimeNs: String(h.machine.bootTimeNs) },
      start: { ...h.start, checksum: hex(h.start.checksum) },
      entries: { input: counts[0], output: counts[1], digest: counts[2], total: counts[0] + counts[1] + counts[2] },
      bytes: { file: s.bytesRead, input: Math.round(s.bytes[0]), output: Math.round(s.bytes[1]), digest: Math.round(s.bytes[2]) },
      // From the trace's start to its end marker, which stands at the index after the last call (pure calls
      // before the first logged one included); without an end marker, up to the last logged call: at least that.
      hostCalls: lastCall < 0 ? 0 : (end ? lastCall : lastCall + 1) - h.start.callIndex,
      hostCallsExact: end !== '',
      callsLogged: Object.fromEntries([...calls].sort((a, b) => b[1] - a[1])),
      outputs: Object.fromEntries([...channels].map(([ch, v]) => [ch === 1 ? 'stdout' : ch === 2 ? 'stderr' : ch === -1 ? 'exit' : ch === -2 ? 'trap' : ch === -3 ? 'cap' : `channel ${ch}`, v])),
      guestDurationMs: monoFirst !== undefined && monoLast !== undefined ? Number(monoLast - monoFirst) / 1e6 : undefined,
      end: end || undefined,
      tail: tail.state === 'clean' ? 'clean' : `${tail.state}${'reason' in tail ? `: ${tail.reason}` : ''}${'offset' in tail ? ` (byte ${tail.offset})` : ''}`,
    };
    if (flags.has('--json')) {
      process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    } else {
      const lines = [
        `trace ${path} (format v${summary.formatVersion}, ${summary.createdBy})`,
        `  module   ${summary.module.path ?? '(not recorded)'}  hash ${summary.module.hash}  ${summary.module.bytes} bytes`,
        `  args     ${JSON.stringify(summary.args)}`,
        `  env      ${JSON.stringify(summary.env)}`,
        `  dirs     ${summary.preopens.map((p) => `${p.host}::${p.guest}`).join(' ') || '(none)'}`,
        `  start    host call ${h.start.callIndex}, seq ${h.start.seq}${h.start.snapshot ? ', from a snapshot' : ''}`,
        `  digests  every ${h.machine.digestIntervalCalls} calls / ${h.machine.digestIntervalMs} ms; unwind ${h.machine.unwind}`,
        `  entries  ${summary.entries.total}: ${counts[0]} input, ${counts[1]} output, ${counts[2]} digest`,
        `  bytes    ${s.bytesRead} in file; by kind: input ${summary.bytes.input}, output ${summary.bytes.output}, digest ${summary.bytes.digest} (${counts[0] ? (summary.bytes.input / counts[0]).toFixed(1) : '-'} bytes per input entry)`,
        `  calls    ${summary.hostCallsExact ? '' : 'at least '}${summary.hostCalls} host calls; logged: ${Object.entries(summary.callsLogged).map(([k, v]) => `${k || 'digest'} ${v}`).join(', ')}`,
        `  outputs  ${Object.entries(summary.outputs).map(([k, v]) => `${k}: ${v.count} writes, ${v.bytes} bytes`).join('; ') || '(none)'}`,
        `  duration ${summary.guestDurationMs !== undefined ? `${summary.guestDurationMs.toFixed(1)} ms (guest monotonic clock)` : 'unknown (no monotonic clock reads)'}`,
        `  end      ${summary.end ?? '(no end marker)'}; tail ${summary.tail}`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    }
    return tail.state === 'clean' ? 0 : REPLAY_EXIT.unusable;
  } finally {
    reader.close();
  }
}
