/**
 * Starting the process's helper threads ahead of need (engine/log/helper-threads.ts): a writer or reader opened
 * once its thread is up hands its work over at once instead of doing it in its own thread until the thread has
 * booted. These tests also prove that both boot files load and serve.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EntryKind } from '../../engine/log/entry.ts';
import { DECODER_BOOT, ENCODER_BOOT, startHelperThread } from '../../engine/log/helper-threads.ts';
import { SessionThread } from '../../engine/log/session-thread.ts';
import { OffloadingTraceWriter } from '../../engine/log/trace-offload.ts';
import { TraceReader } from '../../engine/log/trace-reader.ts';
import { OFFLOAD_MIN_BYTES } from '../../engine/log/trace-read-offload.ts';
import type { TraceHeaderData } from '../../engine/log/trace-header.ts';

const header: TraceHeaderData = {
  vmId: 'helpers', moduleHash: 3n, moduleSizeBytes: 0, args: ['g'], env: [], preopens: [], diskDigest: 0n,
  machine: { clockResolutionNs: 1000n, bootTimeNs: 0n, unwind: 'all', digestIntervalCalls: 0, digestIntervalMs: 0 },
  start: { callIndex: 0, seq: 0, checksum: 0n, snapshot: false },
};

async function untilReady(boot: URL, what: string): Promise<void> {
  const t = SessionThread.get(boot);
  for (let i = 0; i < 3000 && !t.ready; i++) {
    expect(t.alive, `the ${what} thread died while booting`).to.equal(true);
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(t.ready, `the ${what} thread came up`).to.equal(true);
}

describe('helper threads started ahead of need', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'twinstep-helpers-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a recording opened once the encoder thread is up is encoded there from its first entry', async () => {
    startHelperThread('encoder');
    await untilReady(ENCODER_BOOT, 'encoder');
    const path = join(dir, 'early.twt');
    // The default hand-over point (16384 entries) applies only while the thread is not up.
    const w = OffloadingTraceWriter.create(path, header, { fsync: 'none' });
    const result = new Uint8Array(8);
    const request = Uint8Array.of(1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
    w.add(EntryKind.Input, 0, 'clock_time_get', 0, request, result);
    expect(w.offloaded, 'offloaded at the first entry').to.equal(true);
    const total = 50_000;
    for (let i = 1; i < total; i++) {
      result[0] = i & 0xff;
      result[1] = (i >> 8) & 0xff;
      w.add(EntryKind.Input, i, 'clock_time_get', 0, request, result);
    }
    w.close();
    const reader = TraceReader.open(path);
    try {
      const got = [...reader];
      expect(reader.tail.state).to.equal('clean');
      expect(got.length).to.equal(total);
      expect(got.every((e, k) => e.callIndex === k && e.data[0] === (k & 0xff) && e.data[1] === ((k >> 8) & 0xff))).to.equal(true);
    } finally {
      reader.close();
    }
  });

  it('a replay opened once the decoder thread is up is decoded there from its first batch', async () => {
    startHelperThread('decoder');
    await untilReady(DECODER_BOOT, 'decoder');
    // A trace long enough for the decoder thread (OFFLOAD_MIN_BYTES after its header), written in-thread.
    const path = join(dir, 'replay.twt');
    const w = OffloadingTraceWriter.create(path, header, { fsync: 'none', offloadAfterEntries: Infinity });
    const result = new Uint8Array(8);
    const request = Uint8Array.of(1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
    let n = 0;
    while (w.stats.bytesTotal < 2 * OFFLOAD_MIN_BYTES) {
      result[0] = n & 0xff;
      w.add(EntryKind.Input, n++, 'clock_time_get', 0, request, result);
    }
    w.close();
    const reader = TraceReader.open(path, { decodeThread: true });
    try {
      const first = reader[Symbol.iterator]().next();
      expect(first.done).to.equal(false);
      expect(reader.offloaded, 'decoded on the thread from the first batch').to.equal(true);
      let count = 1;
      for (const e of reader) {
        expect(e.callIndex).to.equal(count);
        count++;
      }
      expect(count).to.equal(n);
      expect(reader.tail.state).to.equal('clean');
    } finally {
      reader.close();
    }
  });
});
