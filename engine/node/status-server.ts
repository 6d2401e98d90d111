/**
 * A pair node's status over HTTP (`--status-listen HOST:PORT`): what an operator looks at and what monitoring
 * scrapes, next to the one-line status messages on stderr.
 *
 *   GET /          a status page (HTML, refreshes itself every second): role, state, positions, warnings
 *   GET /status    the same as JSON
 *   GET /metrics   Prometheus text exposition (metrics.ts)
 *   GET /healthz   "ok" while the process serves (a liveness probe)
 *
 * Every response is built from one report taken at request time (the node's state as it is now). Only GET and
 * HEAD are served (405 otherwise), unknown paths get 404, and a report that fails is answered with 500 and its
 * message: a status request never stops the node. The server is a plain node:http one with no state of its own.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { escapeMarkup } from './markup.ts';
import { renderPrometheus, type Metric } from './metrics.ts';

export interface NodeReport {
  /** One line naming the node ("twinstep primary, vm default"). */
  readonly title: string;
  /** The headline state ("protected", "replicating", "live"...). */
  readonly state: string;
  /** The /status body. */
  readonly json: unknown;
  readonly metrics: readonly Metric[];
  /** The status page's table: label and value, in order. */
  readonly rows: ReadonlyArray<readonly [string, string]>;
  /** Loud conditions (no secondary, lease lost, resync under way...); empty when all is well. */
  readonly warnings: readonly string[];
}

export interface StatusServer {
  /** http://HOST:PORT/ as bound (the real port when 0 was asked for). */
  readonly url: string;
  close(): Promise<void>;
}

const PAGE_REFRESH_S = 1;

/** The status page of a report. */
export function renderStatusPage(r: NodeReport): string {
  const rows = r.rows.map(([k, v]) => `<tr><th>${escapeMarkup(k)}</th><td>${escapeMarkup(v)}</td></tr>`).join('\n');
  const warnings = r.warnings.length
    ? `<ul class="warn">${r.warnings.map((w) => `<li>${escapeMarkup(w)}</li>`).join('')}</ul>`
    : '<p class="ok">no warnings</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="${PAGE_REFRESH_S}">
<title>${escapeMarkup(`${r.title}: ${r.state}`)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}th{text-align:left;padding-right:2em;font-weight:normal;color:#555}
td{font-family:ui-monospace,monospace}.warn{color:#b00;font-weight:bold}.ok{color:#070}.state{font-size:1.4em}</style>
</head><body>
<h1>${escapeMarkup(r.title)}</h1>
<p class="state">state: <b>${escapeMarkup(r.state)}</b></p>
${warnings}
<table>
${rows}
</table>
<p><a href="/status">/status</a> (JSON) · <a href="/metrics">/metrics</a> (Prometheus)</p>
</body></html>
`;
}

function send(res: ServerResponse, head: boolean, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  const bytes = Buffer.from(body);
  res.writeHead(status, { 'content-type': type, 'content-length': bytes.length, 'cache-control': 'no-store', ...extra });
  res.end(head ? undefined : bytes);
}

function handle(req: IncomingMessage, res: ServerResponse, report: () => NodeReport): void {
  const method = req.method ?? 'GET';
  const head = method === 'HEAD';
  if (method !== 'GET' && !head) return send(res, false, 405, 'text/plain; charset=utf-8', `${method} not allowed: the status endpoints are read-only\n`, { allow: 'GET, HEAD' });
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/healthz') return send(res, head, 200, 'text/plain; charset=utf-8', 'ok\n');
  if (path !== '/' && path !== '/status' && path !== '/metrics') {
    return send(res, head, 404, 'text/plain; charset=utf-8', `no such endpoint ${path}: try / (status page), /status (JSON), /metrics (Prometheus), /healthz\n`);
  }
  let r: NodeReport;
  let body: string;
  try {
    r = report();
    body = path === '/metrics' ? renderPrometheus(r.metrics) : path === '/status' ? JSON.stringify(r.json, null, 2) + '\n' : renderStatusPage(r);
  } catch (e) {
    return send(res, head, 500, 'text/plain; charset=utf-8', `status report failed: ${(e as Error).message}\n`);
  }
  const type = path === '/metrics' ? 'text/plain; version=0.0.4; charset=utf-8' : path === '/status' ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8';
  send(res, head, 200, type, body);
}

/**
 * Serves `report` on HOST:PORT (port 0: any free port; see `url`). Rejects with a message naming the address
 * when it cannot listen there (in use, not an address of this host, no permission).
 */
export function startStatusServer(host: string, port: number, report: () => NodeReport): Promise<StatusServer> {
  if (!Number.isInteger(port) || port < 0 || port > 65535) return Promise.reject(new RangeError(`status port ${port} is not a port number (0 to 65535)`));
  const server: Server = createServer((req, res) => handle(req, res, report));
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      reject(new Error(`cannot serve the status page on ${host}:${port}: ${e.code ?? 'error'} (${e.message})`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      // A failing connection (a client resetting mid-request) must never reach the process as an error.
      server.on('clientError', (_e, socket) => socket.destroy());
      const a = server.address() as AddressInfo;
      const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve({
        url: `http://${shown}:${a.port}/`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
