/**
 * Lease specs as operators write them on the command line:
 *   file:PATH                         FileLease in directory PATH (created if missing; must be on storage all hosts reach)
 *   etcd:http://HOST:PORT[/key]       EtcdLease; several endpoints separated by commas; key defaults to twinstep/lease
 */
import { resolve } from 'node:path';
import { EtcdLease, ETCD_LEASE_KEY_DEFAULT } from './etcd-lease.ts';
import { FileLease } from './file-lease.ts';
import { LeaseError, type Lease, type LeaseOptions } from './lease.ts';

export type LeaseSpec =
  | { kind: 'file'; dir: string }
  | { kind: 'etcd'; hosts: string[]; key: string };

const USAGE = "expected 'file:PATH' or 'etcd:http://HOST:PORT[/key]'";

function bad(spec: string, why: string): LeaseError {
  return new LeaseError('E_LEASE_SPEC', `bad lease spec ${JSON.stringify(spec)}: ${why} (${USAGE})`);
}

/** Parse without connecting or touching the file system. */
export function parseLeaseSpecString(spec: string): LeaseSpec {
  if (typeof spec !== 'string' || spec.trim() === '') throw bad(String(spec), 'empty');
  const colon = spec.indexOf(':');
  if (colon <= 0) throw bad(spec, 'missing scheme');
  const scheme = spec.slice(0, colon);
  const rest = spec.slice(colon + 1);
  if (scheme === 'file') {
    if (rest === '') throw bad(spec, 'missing path');
    if (rest.includes('\0')) throw bad(spec, 'path contains a NUL byte');
    return { kind: 'file', dir: resolve(rest) };
  }
  if (scheme === 'etcd') {
    if (rest === '') throw bad(spec, 'missing endpoint');
    const hosts: string[] = [];
    let key: string | undefined;
    for (const part of rest.split(',')) {
      let url: URL;
      try {
        url = new URL(part);
      } catch {
        throw bad(spec, `${JSON.stringify(part)} is not a URL, must start with http://`);
      }
      if (url.protocol === 'https:') throw bad(spec, 'https endpoints (TLS) are not supported yet');
      if (url.protocol !== 'http:') throw bad(spec, `endpoint ${JSON.stringify(part)} must start with http://`);
      if (url.username || url.password) throw bad(spec, 'credentials in the URL are not supported');
      if (url.search || url.hash) throw bad(spec, 'query strings and fragments are not allowed');
      if (!url.hostname) throw bad(spec, `endpoint ${JSON.stringify(part)} has no host`);
      const path = decodeURIComponent(url.pathname).replace(/^\/+/, '').replace(/\/+$/, '');
      if (path !== '') {
        if (key !== undefined && key !== path) throw bad(spec, `endpoints name different keys (${key}, ${path})`);
        key = path;
      }
      hosts.push(`http://${url.host.includes(':') ? url.host : `${url.host}:2379`}`);
    }
    return { kind: 'etcd', hosts, key: key ?? ETCD_LEASE_KEY_DEFAULT };
  }
  throw bad(spec, `unknown scheme ${JSON.stringify(scheme)}`);
}

export function parseLeaseSpec(spec: string, options: LeaseOptions = {}): Lease {
  const parsed = parseLeaseSpecString(spec);
  return parsed.kind === 'file'
    ? new FileLease(parsed.dir, options)
    : new EtcdLease({ ...options, hosts: parsed.hosts, key: parsed.key });
}
