/**
 * The Prometheus exposition of a pair node's metrics: read back with a strict parser of the text format
 * (HELP and TYPE before a metric's samples, names and labels by the grammar, escapes undone), so what a
 * scraper would read is what was given. Bad metrics are refused, never written.
 */
import { expect } from 'chai';
import { counter, gauge, renderPrometheus, stateSet, type Metric } from '../../engine/node/metrics.ts';
import { parsePrometheus as parse } from '../support/prometheus.ts';

describe('Prometheus metrics', () => {
  it('writes HELP, TYPE and samples that a strict reader reads back, label values escaped', () => {
    const vm = 'vm "a"\\b\nc';
    const metrics: Metric[] = [
      gauge('twinstep_node_info', 'A node.\nSecond line with \\ in it.', 1, { role: 'primary', vm_id: vm }),
      counter('twinstep_outputs_released_total', 'Outputs released.', 42),
      stateSet('twinstep_primary_mode', 'Mode.', 'mode', ['unprotected', 'protected'], 'protected'),
      {
        name: 'twinstep_output_hold_seconds',
        help: 'Hold.',
        type: 'summary',
        samples: [
          { labels: { quantile: '0.5' }, value: 0.0005 },
          { labels: { quantile: '0.99' }, value: NaN },
          { suffix: '_sum', value: 1.25 },
          { suffix: '_count', value: 7 },
        ],
      },
      gauge('twinstep_limit', 'Unbounded.', Infinity),
    ];
    const p = parse(renderPrometheus(metrics));
    expect([...p.type]).to.deep.equal([
      ['twinstep_node_info', 'gauge'],
      ['twinstep_outputs_released_total', 'counter'],
      ['twinstep_primary_mode', 'gauge'],
      ['twinstep_output_hold_seconds', 'summary'],
      ['twinstep_limit', 'gauge'],
    ]);
    expect(p.help.get('twinstep_node_info')).to.equal('A node.\nSecond line with \\ in it.');
    const info = p.samples.find((s) => s.name === 'twinstep_node_info')!;
    expect(info.labels).to.deep.equal({ role: 'primary', vm_id: vm });
    expect(p.samples.filter((s) => s.name === 'twinstep_primary_mode').map((s) => [s.labels.mode, s.value])).to.deep.equal([
      ['unprotected', 0],
      ['protected', 1],
    ]);
    const hold = p.samples.filter((s) => s.name.startsWith('twinstep_output_hold_seconds'));
    expect(hold.map((s) => s.name)).to.deep.equal(['twinstep_output_hold_seconds', 'twinstep_output_hold_seconds', 'twinstep_output_hold_seconds_sum', 'twinstep_output_hold_seconds_count']);
    expect(hold[0]!.value).to.equal(0.0005);
    expect(hold[1]!.value).to.be.NaN;
    expect(hold[3]!.value).to.equal(7);
    expect(p.samples.find((s) => s.name === 'twinstep_limit')!.value).to.equal(Infinity);
    expect(p.samples.find((s) => s.name === 'twinstep_outputs_released_total')!.value).to.equal(42);
  });

  it('refuses bad names, repeated metrics, counters without _total, bad label names and stray suffixes', () => {
    expect(() => renderPrometheus([gauge('twinstep-bad', 'x', 1)])).to.throw(/not a valid Prometheus name/);
    expect(() => renderPrometheus([gauge('9lives', 'x', 1)])).to.throw(/not a valid Prometheus name/);
    expect(() => renderPrometheus([gauge('a', 'x', 1), gauge('a', 'y', 2)])).to.throw(/given twice/);
    expect(() => renderPrometheus([counter('twinstep_bytes', 'x', 1)])).to.throw(/must end in _total/);
    expect(() => renderPrometheus([gauge('a', 'x', 1, { 'vm-id': 'v' })])).to.throw(/label name 'vm-id'/);
    expect(() => renderPrometheus([gauge('a', 'x', 1, { __reserved: 'v' })])).to.throw(/label name '__reserved'/);
    expect(() => renderPrometheus([{ name: 'a', help: 'x', type: 'gauge', samples: [{ suffix: '_sum', value: 1 }] }])).to.throw(/only a summary/);
  });

  it('writes an empty exposition for no metrics and a metric with no samples as HELP and TYPE only', () => {
    expect(renderPrometheus([])).to.equal('\n');
    const p = parse(renderPrometheus([{ name: 'twinstep_none', help: 'Nothing yet.', type: 'gauge', samples: [] }]));
    expect(p.type.get('twinstep_none')).to.equal('gauge');
    expect(p.samples).to.have.length(0);
  });
});
