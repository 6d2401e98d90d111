/**
 * Saved traces of every released format version must stay readable: each spec/fixtures/trace-v<N>.twt is
 * read with the current reader and compared with its frozen expectation (trace-v<N>.json).
 * For the CURRENT version the writer must also reproduce the fixture byte for byte: if it does not, the
 * encoding changed, and the format version must be bumped (with a new fixture) instead.
 */
import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import { TraceReader } from '../../engine/log/trace-reader.ts';
import { TraceWriter } from '../../engine/log/trace-writer.ts';
import { decodeSnapshot, encodeSnapshot } from '../../engine/checkpoint/snapshot-codec.ts';
import { traceFormatVersion } from '../../engine/log/version.ts';
import type { LogEntry } from '../../engine/log/entry.ts';

const dir = new URL('../fixtures/', import.meta.url);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const jsonish = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x)));

describe('trace fixtures (backward compatibility)', () => {
  const names = readdirSync(dir).filter((n) => /^trace-v\d+\.twt$/.test(n)).sort();

  it('has a fixture for the current format version', () => {
    expect(names).to.include(`trace-v${traceFormatVersion}.twt`);
  });

  for (const name of names) {
    it(`${name} stays readable and matches its expectation`, () => {
      const bytes = new Uint8Array(readFileSync(new URL(name, dir)));
      const expected = JSON.parse(readFileSync(new URL(name.replace('.twt', '.json'), dir), 'utf8'));
      const reader = TraceReader.fromBytes(bytes, { chunkBytes: 256 });
      expect(reader.formatVersion).to.equal(expected.formatVersion);
      expect(jsonish(reader.header)).to.deep.equal(expected.header);
      const entries: LogEntry[] = [...reader];
      expect(reader.tail.state).to.equal('clean');
      expect(entries.map((e) => ({ seq: e.seq, callIndex: e.callIndex, kind: e.kind, call: e.call, channel: e.channel, request: hex(e.request), data: hex(e.data) }))).to.deep.equal(expected.entries);
      if (expected.snapshot) {
        const snap = decodeSnapshot(reader.snapshot!);
        expect({ vmId: snap.vmId, callIndex: snap.callIndex, inodes: snap.wasi.inodes.length, fds: snap.wasi.fds.length }).to.deep.equal(expected.snapshot);
      }

      if (expected.formatVersion === traceFormatVersion) {
        const snapshotBytes = reader.snapshot ? encodeSnapshot(decodeSnapshot(reader.snapshot)) : undefined;
        if (snapshotBytes) expect(hex(snapshotBytes), 'snapshot encoding changed: bump snapshotFormatVersion').to.equal(hex(reader.snapshot!));
        const chunks: Uint8Array[] = [];
        const w = new TraceWriter({ write: (b) => chunks.push(b.slice()) }, reader.header, { batchEntriesMax: 4, fsync: 'none', ...(snapshotBytes ? { snapshot: snapshotBytes } : {}) });
        for (const e of entries) w.append(e);
        w.close();
        expect(hex(Buffer.concat(chunks)) === hex(bytes), 'trace encoding changed: bump traceFormatVersion and add a new fixture').to.equal(true);
      }
    });
  }
});
