import { expect } from 'chai';
import fc from 'fast-check';
import {
  clientMac,
  decodeAuth,
  decodeHello,
  decodeOk,
  encodeAuth,
  encodeHello,
  encodeOk,
  isConfirm,
  macEqual,
  serverMac,
} from '../../engine/net/handshake.ts';
import { closeCodeOf, errorOfCloseCode, NetError, type NetErrorCode } from '../../engine/net/errors.ts';

describe('net/handshake frames', () => {
  const nonce = (b: number) => new Uint8Array(32).fill(b);

  it('round-trips every frame', () => {
    expect(decodeHello(encodeHello(nonce(1)))).to.deep.equal({ serverNonce: nonce(1) });
    const auth = { role: 'secondary' as const, epoch: 2 ** 40 + 3, clientNonce: nonce(2), vmId: 'vm-é', settings: 'release compare, dispatch secondary', mac: nonce(3) };
    expect(decodeAuth(encodeAuth(auth))).to.deep.equal(auth);
    expect(decodeAuth(encodeAuth({ ...auth, settings: '' }))).to.deep.equal({ ...auth, settings: '' });
    expect(() => encodeAuth({ ...auth, settings: 'x'.repeat(256) })).to.throw(RangeError, /settings/);
    const ok = { role: 'primary' as const, epoch: 0, mac: nonce(4) };
    expect(decodeOk(encodeOk(ok))).to.deep.equal(ok);
  });

  it('decoders return null (never throw) on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        decodeHello(bytes);
        decodeAuth(bytes);
        decodeOk(bytes);
        isConfirm(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('decoders reject any single-byte corruption of the header or a truncation', () => {
    const a = encodeAuth({ role: 'primary', epoch: 1, clientNonce: nonce(0), vmId: 'v', settings: 's', mac: nonce(0) });
    for (let i = 0; i < 6; i++) {
      const b = a.slice();
      b[i] ^= 0xff;
      expect(decodeAuth(b)).to.equal(null);
    }
    for (let n = 0; n < a.length; n++) expect(decodeAuth(a.subarray(0, n))).to.equal(null);
    // Settings that are not UTF-8, or whose length byte disagrees with the frame, are no AUTH either.
    const bad = a.slice();
    bad[a.length - 33] = 0xff;
    expect(decodeAuth(bad)).to.equal(null);
    const long = a.slice();
    long[a.length - 34] = 2;
    expect(decodeAuth(long)).to.equal(null);
  });

  it('MACs bind every field and differ by direction', () => {
    const secret = new Uint8Array(32).fill(9);
    const base = { serverNonce: nonce(1), clientNonce: nonce(2), vmId: 'vm', settings: 'release ack', clientEpoch: 5, clientRole: 'secondary' as const };
    const m = clientMac(secret, base);
    const variants = [
      { ...base, serverNonce: nonce(7) },
      { ...base, clientNonce: nonce(7) },
      { ...base, vmId: 'vm2' },
      { ...base, settings: 'release compare' },
      // The length prefixes keep the boundary between vmId and settings in the MAC.
      { ...base, vmId: 'vmr', settings: 'elease ack' },
      { ...base, clientEpoch: 6 },
      { ...base, clientRole: 'primary' as const },
    ];
    for (const v of variants) expect(macEqual(m, clientMac(secret, v))).to.equal(false);
    expect(macEqual(m, clientMac(new Uint8Array(32).fill(8), base))).to.equal(false);
    expect(macEqual(m, clientMac(secret, base))).to.equal(true);
    expect(macEqual(m, serverMac(secret, { ...base, serverEpoch: 5, serverRole: 'secondary' }))).to.equal(false);
    expect(macEqual(m, m.subarray(0, 31))).to.equal(false);
  });

  it('maps every wire code through a ws close code and back', () => {
    const codes: NetErrorCode[] = ['E_AUTH', 'E_VMID', 'E_EPOCH', 'E_ROLE', 'E_FRAME_SIZE', 'E_MALFORMED', 'E_TIMEOUT', 'E_LIMIT', 'E_CLOSED', 'E_SETTINGS'];
    for (const c of codes) {
      const back = errorOfCloseCode(closeCodeOf(new NetError(c, 'x')), 'r');
      expect(back?.code).to.equal(c);
      expect(back?.remote).to.equal(true);
    }
    expect(errorOfCloseCode(1000, '')).to.equal(undefined);
    expect(errorOfCloseCode(1009, '')?.code).to.equal('E_FRAME_SIZE');
    expect(errorOfCloseCode(1006, '')?.code).to.equal('E_CLOSED');
  });
});
