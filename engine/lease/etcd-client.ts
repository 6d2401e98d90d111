/**
 * The etcd client library, loaded on first use: it brings gRPC and protobuf with it, about 200 ms of start-up
 * that every twinstep command paid while only an etcd lease or fence uses it.
 */
import { createRequire } from 'node:module';
import type { Etcd3 } from 'etcd3';

let ctor: typeof Etcd3 | undefined;

export function loadEtcd3(): typeof Etcd3 {
  ctor ??= (createRequire(import.meta.url)('etcd3') as typeof import('etcd3')).Etcd3;
  return ctor;
}
