/**
 * The report for CI systems: JUnit XML. One test case per replayed trace ("replay"), failed with one
 * <failure> per divergence, so CI dashboards show the first divergence as the failure message.
 */
import { escapeMarkup } from '../../engine/node/markup.ts';
import { textReport } from './text.ts';
import type { ReplayReport } from './model.ts';

export function junitReport(r: ReplayReport): string {
  const failures = r.divergences.length;
  const errors = r.status === 'incomplete' ? 1 : 0;
  const seconds = (r.durationMs / 1000).toFixed(3);
  const name = r.trace.split('/').pop() ?? r.trace;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="twinstep replay" tests="1" failures="${failures ? 1 : 0}" errors="${errors}" time="${seconds}">`,
    `  <testsuite name="${escapeMarkup(name)}" tests="1" failures="${failures ? 1 : 0}" errors="${errors}" time="${seconds}">`,
    `    <testcase classname="twinstep.replay" name="${escapeMarkup(`replay ${name} with ${r.guest}`)}" time="${seconds}">`,
  ];
  for (const d of r.divergences) {
    lines.push(`      <failure type="${d.kind}" message="${escapeMarkup(`entry #${d.seq}, host call ${d.callIndex}: ${d.message}`)}"/>`);
  }
  if (errors) lines.push(`      <error type="incomplete" message="${escapeMarkup(r.traceTail ?? 'replay did not complete')}"/>`);
  lines.push(`      <system-out>${escapeMarkup(textReport(r))}</system-out>`);
  lines.push('    </testcase>', '  </testsuite>', '</testsuites>');
  return lines.join('\n') + '\n';
}
