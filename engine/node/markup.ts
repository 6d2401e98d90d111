/**
 * Text for XML and HTML output (the JUnit report, the status page, the bench's SVG plots): the five markup
 * characters become entity or character references, and the control characters XML 1.0 forbids even when
 * escaped are dropped, so any string (a trace path, a guest's call name, a warning) yields well-formed output.
 */
export function escapeMarkup(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}
