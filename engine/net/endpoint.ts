/**
 * listen/connect by address, so drivers and the CLI take one string: ws://HOST:PORT for real hosts, mem://NAME for
 * in-process tests and the simulator.
 */
import { NetError } from './errors.ts';
import { MemoryNetwork, type MemoryConnectOptions, type MemoryListenOptions } from './memory.ts';
import type { Listener, Transport } from './transport.ts';
import { connectWs, listenWs, type WsConnectOptions, type WsListenOptions } from './ws.ts';

export type ListenOptions = Omit<WsListenOptions, 'host' | 'port'> & MemoryListenOptions & { memoryNetwork?: MemoryNetwork };
export type ConnectOptions = WsConnectOptions & MemoryConnectOptions & { memoryNetwork?: MemoryNetwork };

/** mem:// endpoints live here unless the caller brings its own network (the simulator does, one per run). */
export const defaultMemoryNetwork = new MemoryNetwork();

function parse(addr: string): { scheme: 'ws' | 'mem'; host: string; port: number; name: string } {
  const m = /^(ws|mem):\/\/(.+)$/.exec(addr);
  if (!m) throw new NetError('E_CONFIG', `bad address ${JSON.stringify(addr)}: expected ws://HOST:PORT or mem://NAME`);
  if (m[1] === 'mem') return { scheme: 'mem', host: '', port: 0, name: m[2]! };
  let url: URL;
  try {
    url = new URL(addr);
  } catch {
    throw new NetError('E_CONFIG', `bad address ${JSON.stringify(addr)}: expected ws://HOST:PORT`);
  }
  if (url.pathname !== '/' || url.search || url.hash || url.username) {
    throw new NetError('E_CONFIG', `bad address ${JSON.stringify(addr)}: expected ws://HOST:PORT with nothing after the port`);
  }
  return { scheme: 'ws', host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? 80 : Number(url.port), name: '' };
}

/** Listen on ws://HOST:PORT (port 0: any free port, see Listener.url) or mem://NAME. */
export async function listen(addr: string, opts: ListenOptions): Promise<Listener> {
  const a = parse(addr);
  if (a.scheme === 'mem') return (opts.memoryNetwork ?? defaultMemoryNetwork).listen(a.name, opts);
  return listenWs({ ...opts, host: a.host, port: a.port });
}

/** Connect and authenticate to ws://HOST:PORT or mem://NAME. */
export async function connect(url: string, opts: ConnectOptions): Promise<Transport> {
  const a = parse(url);
  if (a.scheme === 'mem') return (opts.memoryNetwork ?? defaultMemoryNetwork).connect(a.name, opts);
  return connectWs(url, opts);
}
