/**
 * Usage lines and `twinstep CMD --help`, made from the commands' argument tables (run-options.ts CommandArgs),
 * so what the help lists is exactly what the parser accepts.
 */
import { SHARED_FLAGS, type CommandArgs, type FlagSpec } from './run-options.ts';

function visible(a: CommandArgs): Array<[string, FlagSpec]> {
  const own = Object.entries(a.flags).filter(([, f]) => !f.hidden);
  const shared = a.shared.map((name): [string, FlagSpec] => [name, { ...SHARED_FLAGS[name], help: a.sharedHelp?.[name] ?? SHARED_FLAGS[name].help }]);
  return [...own.filter(([, f]) => f.required), ...own.filter(([, f]) => !f.required), ...shared];
}

function synopsis(name: string, f: FlagSpec): string {
  return f.takesValue ? `${name} ${f.value ?? 'VALUE'}` : name;
}

/** `twinstep NAME --required V [--optional V] [--repeatable V]... OPERAND [ARGS...]`. */
export function usageLine(command: string, a: CommandArgs): string {
  return usageParts(command, a).join(' ');
}

function usageParts(command: string, a: CommandArgs): string[] {
  const parts = ['twinstep', command];
  for (const [name, f] of visible(a)) parts.push(f.required ? synopsis(name, f) : `[${synopsis(name, f)}]${f.repeatable ? '...' : ''}`);
  if (a.operand) parts.push(a.rest === 'more' ? `${a.operand}...` : a.operand);
  if (a.rest === 'guest') parts.push('[ARGS...]');
  return parts;
}

/** The whole help of one command: what it does, its usage line, and every option with what it does. */
export function commandHelp(command: string, a: CommandArgs, about: string): string {
  const rows = visible(a).map(([name, f]) => [synopsis(name, f) + (f.repeatable ? ' (repeatable)' : ''), f.help + (f.required ? ' (required)' : '')]);
  const width = Math.min(36, Math.max(...rows.map(([s]) => s.length)));
  const lines = [...wrap(`twinstep ${command}: ${about}`.split(' '), COLUMNS, COLUMNS - 4, 4), '', ...wrap(['usage:', ...usageParts(command, a)], COLUMNS, COLUMNS - 4, 4), '', 'options:'];
  for (const [s, h] of rows) {
    const text = wrap(h.split(' '), COLUMNS - width - 4, COLUMNS - width - 4, width + 4);
    if (s.length > width) lines.push(`  ${s}`, `${' '.repeat(width + 4)}${text[0]}`, ...text.slice(1));
    else lines.push(`  ${s.padEnd(width)}  ${text[0]}`, ...text.slice(1));
  }
  if (a.rest === 'guest') lines.push('', `Arguments after ${a.operand} go to the guest.`);
  if (a.rest === 'more') lines.push('', `Options go before the first ${a.operand}.`);
  return lines.join('\n') + '\n';
}

/** Help is wrapped for a terminal of this width. */
const COLUMNS = 100;

/**
 * `words` in lines of at most `first` characters for the first line and `rest` for the others, which are
 * indented by `indent` (a longer word stands alone).
 */
function wrap(words: readonly string[], first: number, rest: number, indent: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of words) {
    if (line && line.length + 1 + word.length > (out.length === 0 ? first : rest)) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  out.push(line);
  return out.map((l, i) => (i === 0 ? l : ' '.repeat(indent) + l));
}
