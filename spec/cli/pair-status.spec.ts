/**
 * What a pair node reports about itself (scripts/cli/pair-status.ts): for every primary mode and secondary
 * state, and for a secondary that took over, the metrics read back through a strict Prometheus reader, one
 * state gauge is set, and the figures the drivers feed in (released outputs, hold times, checkpoints,
 * restores) come out as totals and as the last interval's summary. Also the --status-listen parser.
 */
import { expect } from 'chai';
import { NodeFigures, primaryReport, secondaryReport, statusListenFlag } from '../../scripts/cli/pair-status.ts';
import type { PrimaryDriver } from '../../engine/node/primary-driver.ts';
import type { SecondaryDriver } from '../../engine/node/secondary-driver.ts';
import type { PrimaryStatus } from '../../engine/core/primary-types.ts';
import type { SecondaryStatus } from '../../engine/core/secondary-types.ts';
import type { PrimaryMode, SecondaryState } from '../../engine/core/messages.ts';
import { renderPrometheus } from '../../engine/node/metrics.ts';
import { parsePrometheus } from '../support/prometheus.ts';

const id = { vmId: 'vm "1"', nodeId: 'n1', releaseRule: 'ack', dispatchSide: 'primary' };

function primaryStatus(mode: PrimaryMode, over: Partial<PrimaryStatus> = {}): PrimaryStatus {
  return { role: 'primary', mode, epoch: 3, nextSeq: 100, receivedSeq: 90, matchedSeq: 80, releasedSeq: 85, heldOutputs: 2, heldBytes: 20, inflightEntries: 9, leaseHeld: true, deposed: false, warnings: [], ...over };
}

function secondaryStatus(state: SecondaryState, over: Partial<SecondaryStatus> = {}): SecondaryStatus {
  return { role: 'secondary', state, epoch: 3, joinId: 'j', receivedSeq: 50, handedSeq: 50, replayedSeq: 44, ackedMatchedSeq: 40, knownReleasedSeq: 39, pendingOutputs: 1, leaseHeld: false, warnings: [], ...over };
}

const fakePrimary = (status: PrimaryStatus | undefined, hostCalls = 1234) => ({ status, hostCalls }) as unknown as PrimaryDriver;
const fakeSecondary = (status: SecondaryStatus | undefined, primary?: PrimaryDriver) => ({ status, primary }) as unknown as SecondaryDriver;

function read(metrics: ReturnType<typeof primaryReport>['metrics']) {
  const p = parsePrometheus(renderPrometheus(metrics));
  const value = (name: string, labels: Record<string, string> = {}) =>
    p.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  return { p, value };
}

describe('pair node reports', () => {
  let figures: NodeFigures;
  beforeEach(() => (figures = new NodeFigures()));
  afterEach(() => figures.stop());

  for (const mode of ['unprotected', 'protecting', 'protected', 'resyncing'] as const) {
    it(`reports a primary in mode ${mode}`, () => {
      const warnings = mode === 'protected' ? [] : [`${mode.toUpperCase()}: something`];
      const r = primaryReport(id, fakePrimary(primaryStatus(mode, { warnings })), figures);
      const { p, value } = read(r.metrics);
      expect(p.samples.filter((s) => s.name === 'twinstep_primary_mode' && s.value === 1).map((s) => s.labels.mode)).to.deep.equal([mode]);
      expect(value('twinstep_protected')).to.equal(mode === 'protected' ? 1 : 0);
      expect(value('twinstep_warnings')).to.equal(warnings.length);
      expect(value('twinstep_node_info', { role: 'primary', vm_id: 'vm "1"' })).to.equal(1);
      expect(value('twinstep_guest_host_calls_total')).to.equal(1234);
      expect(value('twinstep_log_inflight_entries')).to.equal(9);
      expect(value('twinstep_took_over')).to.equal(0);
      expect(r.state).to.equal(mode);
      expect(r.warnings).to.deep.equal(warnings);
      const json = JSON.parse(JSON.stringify(r.json));
      expect(json).to.include({ role: 'primary', state: mode, hostCalls: 1234, tookOver: false });
      expect(json.status.nextSeq).to.equal(100);
    });
  }

  it("counts the stand-in's heartbeats on both sides (0 for a driver that has none)", () => {
    const pri = Object.assign(fakePrimary(primaryStatus('protected')), { standInBeats: 7 });
    expect(read(primaryReport(id, pri, figures).metrics).value('twinstep_stand_in_heartbeats_total')).to.equal(7);
    expect(read(primaryReport(id, fakePrimary(primaryStatus('protected')), figures).metrics).value('twinstep_stand_in_heartbeats_total')).to.equal(0);
    const sec = Object.assign(fakeSecondary(undefined), { standInBeats: 3 });
    expect(read(secondaryReport(id, sec, figures).metrics).value('twinstep_stand_in_heartbeats_total')).to.equal(3);
  });

  it('reports a deposed primary, and one with no status yet', () => {
    const deposed = primaryReport(id, fakePrimary(primaryStatus('protected', { deposed: true, leaseHeld: false })), figures);
    expect(deposed.state).to.equal('protected (deposed)');
    expect(read(deposed.metrics).value('twinstep_deposed')).to.equal(1);
    expect(read(deposed.metrics).value('twinstep_lease_held')).to.equal(0);
    const starting = primaryReport(id, fakePrimary(undefined, 0), figures);
    expect(starting.state).to.equal('starting');
    const { p, value } = read(starting.metrics);
    expect(p.samples.filter((s) => s.name === 'twinstep_primary_mode' && s.value === 1)).to.have.length(0);
    expect(value('twinstep_log_acked_seq')).to.equal(-1);
  });

  it('turns the drivers’ hooks into totals and the last interval’s hold summary', () => {
    for (const ms of [1, 2, 3, 40]) figures.hooks.onHeld(ms);
    figures.hooks.onSent(1000);
    figures.hooks.onSent(24);
    figures.hooks.onCheckpoint({ kind: 'full', stun: false, stunMs: 9, sentBytes: 500, fullBytes: 500 });
    figures.hooks.onCheckpoint({ kind: 'delta', stun: true, stunMs: 2.5, sentBytes: 50, fullBytes: 500 });
    figures.hooks.onCheckpoint({ kind: 'diff', stun: true, stunMs: 1.5, sentBytes: 70, fullBytes: 500 });
    // Before the interval ends, the summary is the previous (empty) interval's.
    let { value } = read(primaryReport(id, fakePrimary(primaryStatus('protected')), figures).metrics);
    expect(value('twinstep_output_hold_seconds', { quantile: '0.99' })).to.be.NaN;
    expect(value('twinstep_outputs_released_total')).to.equal(4);
    figures.roll();
    const r = primaryReport(id, fakePrimary(primaryStatus('protected')), figures);
    ({ value } = read(r.metrics));
    expect(value('twinstep_output_hold_seconds', { quantile: '1' })).to.equal(0.04);
    const p50 = value('twinstep_output_hold_seconds', { quantile: '0.5' })!;
    expect(p50).to.be.at.least(0.002).and.at.most(0.002 * 1.05);
    expect(value('twinstep_output_hold_seconds_count')).to.equal(4);
    expect(value('twinstep_output_hold_seconds_sum')).to.be.closeTo(0.046, 1e-12);
    expect(value('twinstep_log_sent_bytes_total')).to.equal(1024);
    expect([value('twinstep_checkpoints_total', { kind: 'full' }), value('twinstep_checkpoints_total', { kind: 'diff' }), value('twinstep_checkpoints_total', { kind: 'delta' })]).to.deep.equal([1, 1, 1]);
    expect(value('twinstep_state_sent_bytes_total')).to.equal(620);
    expect(value('twinstep_last_stun_seconds')).to.equal(0.0015);
    expect(figures.lineSuffix(true)).to.match(/^; hold p50 [\d.]+ ms, p99 [\d.]+ ms, max 40 ms over 4 outputs; event loop late by up to [\d.]+ ms$/);
    // The next interval starts empty; totals stay.
    figures.roll();
    ({ value } = read(primaryReport(id, fakePrimary(primaryStatus('protected')), figures).metrics));
    expect(value('twinstep_output_hold_seconds', { quantile: '0.5' })).to.be.NaN;
    expect(value('twinstep_output_hold_seconds_count')).to.equal(4);
    expect(figures.lineSuffix(true)).to.match(/^; event loop late by up to/);
  });

  for (const state of ['joining', 'transferring', 'restoring', 'replicating', 'diverged', 'candidate', 'finishing', 'live', 'failed'] as const) {
    it(`reports a secondary in state ${state}`, () => {
      const r = secondaryReport(id, fakeSecondary(secondaryStatus(state)), figures);
      const { p, value } = read(r.metrics);
      expect(p.samples.filter((s) => s.name === 'twinstep_secondary_state' && s.value === 1).map((s) => s.labels.state)).to.deep.equal([state]);
      expect(value('twinstep_replay_lag_entries')).to.equal(6);
      expect(value('twinstep_node_info', { role: 'secondary' })).to.equal(1);
      expect(JSON.parse(JSON.stringify(r.json))).to.include({ role: 'secondary', state, replayLagEntries: 6 });
    });
  }

  it('counts restores by the transitions into restoring, once each', () => {
    for (const s of ['joining', 'transferring', 'restoring', 'restoring', 'replicating', 'diverged', 'transferring', 'restoring', 'replicating'] as const) figures.sawSecondary(secondaryStatus(s));
    expect(read(secondaryReport(id, fakeSecondary(secondaryStatus('replicating')), figures).metrics).value('twinstep_restores_total')).to.equal(2);
  });

  it('reports a secondary that went live as the primary it became', () => {
    const r = secondaryReport(id, fakeSecondary(secondaryStatus('live'), fakePrimary(primaryStatus('unprotected', { epoch: 4, warnings: ['UNPROTECTED: no secondary'] }))), figures);
    const { p, value } = read(r.metrics);
    expect(value('twinstep_took_over')).to.equal(1);
    expect(value('twinstep_node_info', { role: 'primary' })).to.equal(1);
    expect(value('twinstep_epoch')).to.equal(4);
    expect(p.samples.some((s) => s.name === 'twinstep_secondary_state')).to.equal(false);
    expect(r.title).to.contain('took over');
    expect(r.json).to.include({ role: 'primary', tookOver: true });
  });

  it('parses --status-listen HOST:PORT and refuses anything else', () => {
    const flag = (v: string) => statusListenFlag(new Map([['--status-listen', [v]]]));
    expect(flag('127.0.0.1:0')).to.deep.equal({ host: '127.0.0.1', port: 0 });
    expect(flag('0.0.0.0:9100')).to.deep.equal({ host: '0.0.0.0', port: 9100 });
    expect(flag('[::1]:9100')).to.deep.equal({ host: '::1', port: 9100 });
    expect(flag('http://monitor.local:8080/')).to.deep.equal({ host: 'monitor.local', port: 8080 });
    expect(statusListenFlag(new Map())).to.equal(undefined);
    for (const bad of ['localhost', ':9100', 'host:', 'host:65536', 'host:port', 'a:1:2', 'http://h:1/x']) {
      expect(() => flag(bad), bad).to.throw(/--status-listen expects HOST:PORT/);
    }
  });
});
