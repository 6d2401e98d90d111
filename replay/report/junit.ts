/**
 * The report for CI systems: JUnit XML. One test case per replayed trace ("replay TRACE with GUEST"), failed
 * with one <failure> per divergence, so CI dashboards show the first divergence as the failure message; a
 * damaged trace is an <error type="incomplete">, a trace that could not be replayed an <error type="unusable">.
 */
import { escapeMarkup } from '../../engine/node/markup.ts';
import { textReport } from './text.ts';
import { divergenceWhere } from '../divergence.ts';
import { totals, type ReplayReport, type TraceResult } from './model.ts';

const seconds = (ms: number) => (ms / 1000).toFixed(3);
const baseName = (trace: string) => trace.split('/').pop() ?? trace;

/**
 * What each trace is called in its test case: its file name, or, where several traces share one, the path as
 * given (and a count for a trace given twice), so every test case has a name of its own (CI systems key their
 * history on it, and merge or drop cases with equal names).
 */
function labels(results: readonly TraceResult[]): string[] {
  const count = (xs: string[], x: string) => xs.filter((y) => y === x).length;
  const bases = results.map((r) => baseName(r.trace));
  const names = results.map((r, i) => (count(bases, bases[i]!) > 1 ? r.trace : bases[i]!));
  const seen = new Map<string, number>();
  return names.map((n) => {
    if (count(names, n) === 1) return n;
    const k = (seen.get(n) ?? 0) + 1;
    seen.set(n, k);
    return `${n} (#${k})`;
  });
}

function testcase(r: TraceResult, label: string): string[] {
  if (r.status === 'unusable') {
    return [
      `    <testcase classname="twinstep.replay" name="${escapeMarkup(`replay ${label}`)}" time="0.000">`,
      `      <error type="unusable" message="${escapeMarkup(r.message)}"/>`,
      '    </testcase>',
    ];
  }
  const lines = [`    <testcase classname="twinstep.replay" name="${escapeMarkup(`replay ${label} with ${r.guest}`)}" time="${seconds(r.durationMs)}">`];
  for (const d of r.divergences) {
    lines.push(`      <failure type="${d.kind}" message="${escapeMarkup(`${divergenceWhere(d)}: ${d.message}`)}"/>`);
  }
  if (r.status === 'incomplete') lines.push(`      <error type="incomplete" message="${escapeMarkup(r.traceTail ?? 'replay did not complete')}"/>`);
  lines.push(`      <system-out>${escapeMarkup(textReport(r))}</system-out>`, '    </testcase>');
  return lines;
}

/** One trace: a test suite named after it, with its one test case (an <error type="unusable"> when it could not be replayed). */
export function junitReport(r: TraceResult): string {
  return suites([r], baseName(r.trace));
}

/** Several traces: one test suite ("twinstep replay") with a test case per trace, in the order given. */
export function junitReports(results: readonly TraceResult[]): string {
  return suites(results, 'twinstep replay');
}

function suites(results: readonly TraceResult[], suiteName: string): string {
  const t = totals(results);
  const names = labels(results);
  const counts = `tests="${t.traces}" failures="${t.diverged}" errors="${t.incomplete + t.unusable}" time="${seconds(results.reduce((ms, r) => ms + (r.status === 'unusable' ? 0 : r.durationMs), 0))}"`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="twinstep replay" ${counts}>`,
    `  <testsuite name="${escapeMarkup(suiteName)}" ${counts}>`,
    ...results.flatMap((r, i) => testcase(r, names[i]!)),
    '  </testsuite>',
    '</testsuites>',
  ];
  return lines.join('\n') + '\n';
}
