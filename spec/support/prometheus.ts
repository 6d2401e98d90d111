/** A strict reader of the Prometheus text exposition (version 0.0.4) for specs: what a scraper would read. */
import { expect } from 'chai';

export interface Parsed {
  readonly help: Map<string, string>;
  readonly type: Map<string, string>;
  readonly samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
}

export function parsePrometheus(text: string): Parsed {
  expect(text.endsWith('\n'), 'exposition ends with a newline').to.equal(true);
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  const samples: Parsed['samples'] = [];
  for (const line of text.slice(0, -1).split('\n')) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      expect(help.has(m[1]!), `second HELP for ${m[1]}`).to.equal(false);
      help.set(m[1]!, m[2]!.replace(/\\n/g, '\n').replace(/\\\\/g, '\\'));
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter|summary|histogram|untyped)$/.exec(line);
    if (m) {
      expect(help.has(m[1]!), `TYPE before HELP for ${m[1]}`).to.equal(true);
      type.set(m[1]!, m[2]!);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    expect(m, `not a sample line: ${JSON.stringify(line)}`).to.not.equal(null);
    const name = m![1]!;
    const family = type.has(name) ? name : name.replace(/_(sum|count)$/, '');
    expect(type.has(family), `sample ${name} before its TYPE`).to.equal(true);
    const labels: Record<string, string> = {};
    let rest = m![2] ?? '';
    while (rest.length > 0) {
      const l = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/.exec(rest);
      expect(l, `bad label set in ${JSON.stringify(line)}`).to.not.equal(null);
      labels[l![1]!] = l![2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(l![0].length);
    }
    const v = m![3]!;
    samples.push({ name, labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
  }
  return { help, type, samples };
}

