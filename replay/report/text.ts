/** The report for people: what diverged, where, expected vs actual, and the entries just before. */
import type { Divergence, EntryView } from '../divergence.ts';
import { hexdumpDiff } from './hexdump.ts';
import { differential, replayHint, digestScope, totalsLine, type ReplayReport, type TraceResult } from './model.ts';

function entryLine(e: EntryView): string {
  const bytes = e.kind === 'digest' ? '' : ` ${e.data.length} bytes${e.kind === 'output' && e.channel >= 0 ? ` ${JSON.stringify(preview(e.data))}` : ''}`;
  const ch = e.kind === 'output' ? ` channel ${e.channel}` : '';
  return `    #${e.seq} call ${e.callIndex} ${e.kind} ${e.call || 'digest'}${ch}${bytes}`;
}

function preview(b: Uint8Array, max = 40): string {
  const s = Buffer.from(b.subarray(0, max)).toString('latin1');
  return b.length > max ? s + '…' : s;
}

function divergenceText(d: Divergence, n: number): string {
  const where = d.seq >= 0 ? `entry #${d.seq} (host call ${d.callIndex})` : `host call ${d.callIndex} (no recorded entry)`;
  const lines = [`divergence ${n}: ${d.kind} at ${where}`, `  ${d.message}`];
  if (d.expected && d.actual?.data && d.expected.kind !== 'digest') lines.push(hexdumpDiff(d.expected.data, d.actual.data));
  if (d.expected && d.actual?.request) lines.push(hexdumpDiff(d.expected.request, d.actual.request));
  if (d.state) {
    const pages = d.state.pages.slice(0, 16).map((p) => `${p} (0x${(p * 4096).toString(16)})`).join(', ');
    lines.push(`  memory pages differing: ${d.state.pages.length}${d.state.pages.length ? `: ${pages}${d.state.pages.length > 16 ? ', …' : ''}` : ''}`);
    if (d.state.files.length) lines.push(`  files differing: ${d.state.files.join(', ')}`);
    if (d.state.devices) lines.push('  device state (globals, fd table, inode metadata) differs');
  }
  if (d.expected) lines.push('  recorded entry:', entryLine(d.expected));
  if (d.context.length) lines.push('  entries before it:', ...d.context.map(entryLine));
  return lines.join('\n');
}

export function textReport(r: ReplayReport): string {
  const lines: string[] = [];
  lines.push(`twinstep replay: ${r.trace}`);
  lines.push(`  guest: ${r.guest}`);
  if (differential(r)) lines.push(`  DIFFERENTIAL REPLAY: module ${r.replayedModuleHash} replayed against a recording of module ${r.recordedModuleHash}`);
  lines.push(`  result: ${r.status.toUpperCase()} after ${r.entries}${r.entriesTotal !== undefined ? `/${r.entriesTotal}` : ''} entries, ${r.callIndex} host calls, ${r.durationMs.toFixed(0)} ms${r.capped ? ' (recording was capped; replayed to the cap)' : ''}`);
  if (r.match === 'stream') lines.push('  matched: inputs in recorded order, outputs as byte streams per channel (--match stream)');
  lines.push(`  ${digestsLine(r)}`);
  if (r.traceTail) lines.push(`  trace tail: ${r.traceTail}`);
  if (r.divergenceLimit !== undefined) lines.push(`  --keep-going stopped at its limit of ${r.divergenceLimit} divergences: the replay went no further, later ones are not listed`);
  r.divergences.forEach((d, i) => lines.push('', divergenceText(d, i + 1)));
  const hint = replayHint(r);
  if (hint) lines.push('', `hint: ${hint}`);
  return lines.join('\n') + '\n';
}

function digestsLine(r: ReplayReport): string {
  const { mode, compared, skipped } = r.digests;
  if (compared + skipped === 0) return 'state digests: none reached';
  if (r.match === 'stream') return `state digests: ${skipped} not compared (--match stream)`;
  if (mode === 'off') return `state digests: ${skipped} not compared (--digests off)`;
  return `state digests: ${compared} compared (${digestScope(mode)})${skipped ? `, ${skipped} carried the root only and were skipped` : ''}`;
}

/** Several traces: each one's report in turn (an unusable one says why), then the totals. */
/** A trace that could not be replayed, and why. */
export function unusableText(r: Extract<TraceResult, { status: 'unusable' }>): string {
  return `twinstep replay: ${r.trace}\n  result: UNUSABLE: ${r.message}\n`;
}

export function textReports(results: readonly TraceResult[]): string {
  const parts = results.map((r) => (r.status === 'unusable' ? unusableText(r) : textReport(r)));
  return `${parts.join('\n')}\n${totalsLine(results)}\n`;
}
