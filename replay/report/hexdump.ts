/**
 * A side-by-side hexdump of expected vs actual bytes around the first differing byte: the rows that differ
 * are marked, so a reader sees at once which bytes changed.
 */
const ROW_BYTES = 16;

export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function row(bytes: Uint8Array, start: number): string {
  let hex = '';
  let text = '';
  for (let i = start; i < start + ROW_BYTES; i++) {
    if (i < bytes.length) {
      hex += bytes[i].toString(16).padStart(2, '0') + ' ';
      text += bytes[i] >= 0x20 && bytes[i] < 0x7f ? String.fromCharCode(bytes[i]) : '.';
    } else {
      hex += '   ';
      text += ' ';
    }
  }
  return `${hex}|${text}|`;
}

/** Rows of `expected` and `actual` around their first difference (`contextRows` before and after). */
export function hexdumpDiff(expected: Uint8Array, actual: Uint8Array, contextRows = 2, rowsMax = 8): string {
  const at = firstDifference(expected, actual);
  if (at < 0) return '  (identical bytes)';
  const firstRow = Math.max(0, Math.floor(at / ROW_BYTES) - contextRows);
  const lastRow = Math.min(Math.ceil(Math.max(expected.length, actual.length) / ROW_BYTES), firstRow + rowsMax);
  const lines = [`  first difference at byte ${at} (expected ${expected.length} bytes, got ${actual.length})`];
  for (let r = firstRow; r < lastRow; r++) {
    const off = r * ROW_BYTES;
    const e = row(expected, off);
    const a = row(actual, off);
    const mark = e === a ? ' ' : '!';
    lines.push(`  ${mark} ${off.toString(16).padStart(8, '0')}  expected ${e}`);
    if (e !== a) lines.push(`    ${' '.repeat(8)}  actual   ${a}`);
  }
  return lines.join('\n');
}
