export * from './lease.ts';
export { FileLease } from './file-lease.ts';
export { EtcdLease, ETCD_LEASE_KEY_DEFAULT, type EtcdLeaseOptions } from './etcd-lease.ts';
export { parseLeaseSpec, parseLeaseSpecString, type LeaseSpec } from './lease-spec.ts';
