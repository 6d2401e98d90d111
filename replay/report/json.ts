/** The report for machines: the same content as the text report, bytes as hex and UTF-8 previews. */
import type { EntryView } from '../divergence.ts';
import { firstDifference } from './hexdump.ts';
import { differential, replayHint, totals, type ReplayReport, type TraceResult } from './model.ts';

function bytes(b: Uint8Array | undefined): { hex: string; text: string; length: number } | undefined {
  if (!b) return undefined;
  const head = b.subarray(0, 4096);
  return { hex: Buffer.from(head).toString('hex'), text: Buffer.from(head).toString('utf8'), length: b.length };
}

function entry(e: EntryView | undefined) {
  if (!e) return undefined;
  return { seq: e.seq, callIndex: e.callIndex, kind: e.kind, call: e.call, channel: e.channel, request: bytes(e.request), data: bytes(e.data) };
}

/** One trace: its report, or (a trace that could not be replayed) `{ format, version, trace, status: "unusable", message }`. */
export function jsonReport(r: TraceResult): string {
  const o = r.status === 'unusable' ? { format: 'twinstep-replay-report', version: 1, trace: r.trace, status: r.status, message: r.message } : reportObject(r);
  return JSON.stringify(o, null, 2) + '\n';
}

/**
 * Several traces: `format: "twinstep-replay-reports"`, the totals, and per trace the object a replay of that trace
 * alone reports (or `{ trace, status: "unusable", message }`).
 */
export function jsonReports(results: readonly TraceResult[]): string {
  return JSON.stringify({
    format: 'twinstep-replay-reports',
    version: 1,
    totals: totals(results),
    traces: results.map((r) => (r.status === 'unusable' ? r : reportObject(r))),
  }, null, 2) + '\n';
}

function reportObject(r: ReplayReport) {
  return {
    format: 'twinstep-replay-report',
    version: 1,
    trace: r.trace,
    guest: r.guest,
    recordedModuleHash: r.recordedModuleHash,
    replayedModuleHash: r.replayedModuleHash,
    differential: differential(r),
    status: r.status,
    entries: r.entries,
    entriesTotal: r.entriesTotal,
    callIndex: r.callIndex,
    capped: r.capped,
    // --keep-going stopped at this many divergences; null when it listed every one (or did not keep going).
    divergenceLimit: r.divergenceLimit ?? null,
    match: r.match,
    digests: r.digests,
    hint: replayHint(r),
    traceTail: r.traceTail,
    durationMs: Math.round(r.durationMs),
    divergences: r.divergences.map((d) => ({
      kind: d.kind,
      seq: d.seq >= 0 ? d.seq : null, // null: past the recorded entries
      callIndex: d.callIndex,
      message: d.message,
      firstDifferingByte: d.expected && d.actual?.data ? firstDifference(d.expected.data, d.actual.data) : undefined,
      expected: entry(d.expected),
      actual: d.actual ? { channel: d.actual.channel, data: bytes(d.actual.data), request: bytes(d.actual.request) } : undefined,
      context: d.context.map(entry),
      state: d.state,
    })),
  };
}
