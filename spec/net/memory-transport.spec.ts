import { expect } from 'chai';
import { MemoryNetwork, MemoryTransport } from '../../engine/net/memory.ts';
import { NetError } from '../../engine/net/errors.ts';
import { closed, collector, transportCompliance, within } from './transport-compliance.ts';

transportCompliance('MemoryTransport', () => {
  const net = new MemoryNetwork();
  let n = 0;
  return {
    listen: async (opts) => net.listen(`l${++n}`, opts),
    connect: (l, opts) => net.connect(l.url.slice('mem://'.length), opts),
    connectRaw: async (l) => net.connectRaw(l.url.slice('mem://'.length)),
    teardown: async () => undefined,
  };
});

describe('net/MemoryTransport', () => {
  it('never delivers inside send(), and a custom schedule controls delivery', async () => {
    const tasks: Array<() => void> = [];
    const [a, b] = MemoryTransport.pair({ schedule: (t) => tasks.push(t) });
    const got = collector(b);
    a.send(Uint8Array.of(1));
    a.send(Uint8Array.of(2));
    expect(got.msgs).to.have.length(0);
    expect(a.bufferedBytes).to.equal(2);
    tasks.shift()!();
    await Promise.resolve();
    expect(got.msgs.map((m) => m[0])).to.deep.equal([1]);
    expect(a.bufferedBytes).to.equal(1);
  });

  it('copies on send, so the sender may reuse its buffer', async () => {
    const [a, b] = MemoryTransport.pair();
    const got = collector(b);
    const buf = Uint8Array.of(7);
    a.send(buf);
    buf[0] = 8;
    expect((await within(got.until(1), 1000, 'msg'))[0]![0]).to.equal(7);
  });

  it('kill() is an abrupt loss: both ends see E_CLOSED', async () => {
    const [a, b] = MemoryTransport.pair();
    const bc = closed(b);
    a.kill();
    const err = await within(bc, 1000, 'peer close');
    expect(err).to.be.instanceOf(NetError);
    expect(err!.code).to.equal('E_CLOSED');
  });

  it('connecting to a name nobody listens on is E_CONNECT', async () => {
    const err = await new MemoryNetwork()
      .connect('nobody', { secret: new Uint8Array(16), vmId: 'v', role: 'secondary', epoch: 0 })
      .catch((e: unknown) => e);
    expect((err as NetError).code).to.equal('E_CONNECT');
  });
});
