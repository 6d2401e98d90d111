import { expect } from 'chai';
import fc from 'fast-check';
import { encodeFrame, FrameReader, FrameType, frameHeaderBytes, type Frame } from '../../engine/log/frame.ts';
import { LogFormatError } from '../../engine/log/errors.ts';
import { propertySeed } from './entries.ts';

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('framing', () => {
  it('reads frames back from arbitrary chunkings of the stream (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 50 }),
        (payloads, cuts) => {
          const stream = concat(payloads.map((p) => encodeFrame(FrameType.Message, p)));
          const reader = new FrameReader({ startOffset: 100 });
          const got: Frame[] = [];
          let at = 0;
          let c = 0;
          while (at < stream.length) {
            const n = cuts[c++ % cuts.length]!;
            reader.push(stream.subarray(at, at + n));
            at += n;
            for (let f = reader.next(); f; f = reader.next()) got.push(f);
          }
          expect(got.map((f) => Array.from(f.payload))).to.deep.equal(payloads.map((p) => Array.from(p)));
          expect(reader.pending).to.equal(0);
          let off = 100;
          for (const f of got) {
            expect(f.offset).to.equal(off);
            expect(f.type).to.equal(FrameType.Message);
            off += f.bytes;
          }
        },
      ),
      { seed: propertySeed, numRuns: 200 },
    );
  });

  it('reads frames written in place (room, then commit of what a read filled), as from pushed chunks (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 12 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 0, max: 5000 })), { minLength: 1, maxLength: 50 }),
        (payloads, reads) => {
          const stream = concat(payloads.map((p) => encodeFrame(FrameType.Message, p)));
          const reader = new FrameReader();
          const got: Frame[] = [];
          let at = 0;
          let c = 0;
          while (at < stream.length) {
            // A read asks for `ask` bytes and gets up to that many (a short read, or none).
            const [ask, short] = reads[c++ % reads.length]!;
            const room = reader.room(ask);
            expect(room.length).to.equal(ask);
            const n = Math.min(ask, Math.max(1, ask - short), stream.length - at);
            room.set(stream.subarray(at, at + n));
            reader.commit(n);
            at += n;
            for (let f = reader.next(); f; f = reader.next()) got.push(f);
          }
          expect(got.map((f) => Array.from(f.payload))).to.deep.equal(payloads.map((p) => Array.from(p)));
          expect(reader.pending).to.equal(0);
        },
      ),
      { seed: propertySeed, numRuns: 200 },
    );
    const reader = new FrameReader();
    reader.room(10);
    expect(() => reader.commit(11)).to.throw(RangeError);
  });

  it('reports a payload checksum mismatch with the frame offset, and stays failed', () => {
    const a = encodeFrame(FrameType.Batch, Uint8Array.from([1, 2, 3]));
    const b = encodeFrame(FrameType.Batch, Uint8Array.from([4, 5, 6]));
    const stream = concat([a, b]);
    stream[a.length + frameHeaderBytes + 1]! ^= 0xff;
    const r = new FrameReader();
    r.push(stream);
    expect(r.next()!.payload).to.deep.equal(Uint8Array.from([1, 2, 3]));
    let err: unknown;
    try {
      r.next();
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(LogFormatError);
    expect((err as LogFormatError).code).to.equal('E_CHECKSUM');
    expect((err as LogFormatError).offset).to.equal(a.length);
    expect(() => r.next()).to.throw(LogFormatError);
  });

  it('detects a corrupted length field instead of waiting for bytes that never come', () => {
    for (let byte = 0; byte < frameHeaderBytes; byte++) {
      const f = encodeFrame(FrameType.Batch, new Uint8Array(50));
      f[byte]! ^= 0x10;
      const r = new FrameReader();
      r.push(f);
      expect(() => r.next(), `header byte ${byte}`).to.throw(LogFormatError);
    }
  });

  it('refuses frames over the limit before buffering them', () => {
    const r = new FrameReader({ maxFrameBytes: 1024 });
    r.push(encodeFrame(FrameType.Batch, new Uint8Array(2048)).subarray(0, frameHeaderBytes));
    try {
      r.next();
      expect.fail('no error');
    } catch (err) {
      expect((err as LogFormatError).code).to.equal('E_FRAME_SIZE');
    }
  });

  it('describes an incomplete tail', () => {
    const f = encodeFrame(FrameType.Batch, new Uint8Array(100));
    const r = new FrameReader();
    r.push(f.subarray(0, 5));
    expect(r.next()).to.equal(undefined);
    expect(r.describePending()).to.match(/incomplete frame header/);
    r.push(f.subarray(5, 40));
    expect(r.next()).to.equal(undefined);
    expect(r.describePending()).to.match(/incomplete frame \(40 of 116 bytes\)/);
  });
});
