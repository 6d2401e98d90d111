import { expect } from 'chai';
import { resolve } from 'node:path';
import { EtcdLease } from '../../engine/lease/etcd-lease.ts';
import { FileLease } from '../../engine/lease/file-lease.ts';
import { LeaseError } from '../../engine/lease/lease.ts';
import { parseLeaseSpec, parseLeaseSpecString } from '../../engine/lease/lease-spec.ts';

describe('lease/parseLeaseSpec', () => {
  it('parses file specs (relative paths resolved)', () => {
    expect(parseLeaseSpecString('file:/shared/vm1.lease')).to.deep.equal({ kind: 'file', dir: '/shared/vm1.lease' });
    expect(parseLeaseSpecString('file:rel/dir')).to.deep.equal({ kind: 'file', dir: resolve('rel/dir') });
    const l = parseLeaseSpec('file:/tmp/x', { ttlMs: 1234 });
    expect(l).to.be.instanceOf(FileLease);
    expect(l.ttlMs).to.equal(1234);
  });

  it('parses etcd specs with default port, default key, key in the path and several endpoints', async () => {
    expect(parseLeaseSpecString('etcd:http://127.0.0.1:2379')).to.deep.equal({
      kind: 'etcd', hosts: ['http://127.0.0.1:2379'], key: 'twinstep/lease',
    });
    expect(parseLeaseSpecString('etcd:http://10.0.0.1/vms/vm1/')).to.deep.equal({
      kind: 'etcd', hosts: ['http://10.0.0.1:2379'], key: 'vms/vm1',
    });
    expect(parseLeaseSpecString('etcd:http://a:1,http://b:2/k')).to.deep.equal({
      kind: 'etcd', hosts: ['http://a:1', 'http://b:2'], key: 'k',
    });
    const l = parseLeaseSpec('etcd:http://127.0.0.1:2379/k');
    expect(l).to.be.instanceOf(EtcdLease);
    await l.close();
  });

  const bad: Array<[string, string]> = [
    ['', 'empty'],
    ['/just/a/path', 'missing scheme'],
    ['nfs:/x', 'unknown scheme'],
    ['file:', 'missing path'],
    ['etcd:', 'missing endpoint'],
    ['etcd:127.0.0.1:2379', 'must start with http://'],
    ['etcd:https://127.0.0.1:2379', 'https'],
    ['etcd:http://u:p@127.0.0.1:2379', 'credentials'],
    ['etcd:http://127.0.0.1:2379/a?x=1', 'query'],
    ['etcd:http://a:1/k1,http://b:2/k2', 'different keys'],
    ['etcd:not a url', 'not a URL'],
  ];
  for (const [spec, why] of bad) {
    it(`rejects ${JSON.stringify(spec)} (${why})`, () => {
      let err: unknown;
      try {
        parseLeaseSpec(spec);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(LeaseError);
      expect((err as LeaseError).code).to.equal('E_LEASE_SPEC');
      expect((err as LeaseError).message).to.contain(why);
    });
  }
});
