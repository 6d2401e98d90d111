/**
 * Metrics of a pair node in the Prometheus text exposition format (version 0.0.4), for `--status-listen`'s
 * /metrics endpoint: what an operator's monitoring scrapes to alert on a VM that lost its protection, a
 * secondary falling behind, or outputs held too long.
 *
 * A metric is a name, a help text, a type and its samples (label sets with a value). The renderer checks
 * names and label names against the format's grammar (a bad one is a programmer error and throws), escapes
 * label values (a VM id may hold any character) and writes each metric's HELP and TYPE before its samples.
 */

export type MetricType = 'gauge' | 'counter' | 'summary';

export interface Sample {
  /** Label values by label name (the metric's own labels; `quantile` for a summary's quantiles). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Name suffix for a summary's `_sum` and `_count` samples. */
  readonly suffix?: '_sum' | '_count';
  readonly value: number;
}

export interface Metric {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly samples: readonly Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label value as the format wants it: backslash, double quote and newline escaped. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A help text as the format wants it: backslash and newline escaped. */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample value: integers as they are, NaN and infinities by the format's names. */
function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** The metrics as one exposition (text/plain; version=0.0.4). Throws on a bad or repeated metric name. */
export function renderPrometheus(metrics: readonly Metric[]): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const m of metrics) {
    if (!NAME.test(m.name)) throw new Error(`metric name '${m.name}' is not a valid Prometheus name`);
    if (seen.has(m.name)) throw new Error(`metric '${m.name}' given twice`);
    seen.add(m.name);
    if (m.type === 'counter' && !m.name.endsWith('_total')) throw new Error(`counter '${m.name}' must end in _total`);
    lines.push(`# HELP ${m.name} ${escapeHelp(m.help)}`);
    lines.push(`# TYPE ${m.name} ${m.type}`);
    for (const s of m.samples) {
      if (s.suffix !== undefined && m.type !== 'summary') throw new Error(`metric '${m.name}': only a summary has ${s.suffix} samples`);
      const labels = Object.entries(s.labels ?? {});
      for (const [k] of labels) if (!LABEL.test(k) || k.startsWith('__')) throw new Error(`metric '${m.name}': label name '${k}' is not valid`);
      const set = labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}` : '';
      lines.push(`${m.name}${s.suffix ?? ''}${set} ${formatValue(s.value)}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** A gauge of one sample. */
export function gauge(name: string, help: string, value: number, labels?: Record<string, string>): Metric {
  return { name, help, type: 'gauge', samples: [{ labels, value }] };
}

/** A counter of one sample (the name ends in _total). */
export function counter(name: string, help: string, value: number, labels?: Record<string, string>): Metric {
  return { name, help, type: 'counter', samples: [{ labels, value }] };
}

/** 1 for the value that holds, 0 for the others: a state as a gauge per possible value (`label`="value"). */
export function stateSet(name: string, help: string, label: string, values: readonly string[], current: string, labels: Record<string, string> = {}): Metric {
  return { name, help, type: 'gauge', samples: values.map((v) => ({ labels: { ...labels, [label]: v }, value: v === current ? 1 : 0 })) };
}
