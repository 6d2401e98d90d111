/**
 * The status server of `--status-listen`: its four endpoints over real HTTP on loopback, what it refuses, a
 * report that fails (answered with 500, the server keeps serving), an address it cannot bind, and a close
 * that does not wait for a client's idle keep-alive connection.
 */
import { expect } from 'chai';
import { request, Agent } from 'node:http';
import { connect } from 'node:net';
import { renderStatusPage, startStatusServer, type NodeReport, type StatusServer } from '../../engine/node/status-server.ts';
import { gauge } from '../../engine/node/metrics.ts';

function fetchRaw(url: string, method = 'GET', agent?: Agent): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function report(over: Partial<NodeReport> = {}): NodeReport {
  return {
    title: 'twinstep primary, vm <b>x</b>',
    state: 'protected',
    json: { role: 'primary', seq: 7 },
    metrics: [gauge('twinstep_protected', 'Protected.', 1)],
    rows: [['log: next seq', '7']],
    warnings: [],
    ...over,
  };
}

describe('the status server', function () {
  this.timeout(10_000);
  let server: StatusServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serves the page, the JSON, the metrics and a liveness probe, each from a report taken per request', async () => {
    let n = 0;
    server = await startStatusServer('127.0.0.1', 0, () => report({ json: { role: 'primary', seq: ++n }, rows: [['log: next seq', String(n)]] }));
    expect(server.url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetchRaw(server.url);
    expect(page.status).to.equal(200);
    expect(page.headers['content-type']).to.equal('text/html; charset=utf-8');
    expect(page.headers['cache-control']).to.equal('no-store');
    expect(page.body).to.contain('<meta http-equiv="refresh" content="1">');
    expect(page.body).to.contain('state: <b>protected</b>');
    expect(page.body).to.contain('<tr><th>log: next seq</th><td>1</td></tr>');
    const json = await fetchRaw(server.url + 'status');
    expect(json.headers['content-type']).to.equal('application/json; charset=utf-8');
    expect(JSON.parse(json.body)).to.deep.equal({ role: 'primary', seq: 2 });
    const metrics = await fetchRaw(server.url + 'metrics?x=1');
    expect(metrics.status).to.equal(200);
    expect(metrics.headers['content-type']).to.equal('text/plain; version=0.0.4; charset=utf-8');
    expect(metrics.body).to.contain('\ntwinstep_protected 1\n');
    const health = await fetchRaw(server.url + 'healthz');
    expect([health.status, health.body]).to.deep.equal([200, 'ok\n']);
    expect(n).to.equal(3);
  });

  it('escapes the title, state, rows and warnings on the page', () => {
    const html = renderStatusPage(report({ state: 'a&b', warnings: ['<script>alert(1)</script>'], rows: [['"k"', "v'"]] }));
    expect(html).to.not.contain('<script>');
    expect(html).to.not.contain('<b>x</b>');
    expect(html).to.contain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).to.contain('vm &lt;b&gt;x&lt;/b&gt;');
    expect(html).to.contain('state: <b>a&amp;b</b>');
    expect(html).to.contain('<tr><th>&quot;k&quot;</th><td>v&#39;</td></tr>');
    expect(html).to.contain('class="warn"');
    expect(renderStatusPage(report())).to.contain('no warnings');
  });

  it('answers HEAD without a body, refuses other methods with 405 and unknown paths with 404', async () => {
    server = await startStatusServer('127.0.0.1', 0, () => report());
    const head = await fetchRaw(server.url + 'metrics', 'HEAD');
    expect(head.status).to.equal(200);
    expect(head.body).to.equal('');
    expect(Number(head.headers['content-length'])).to.be.greaterThan(0);
    const post = await fetchRaw(server.url + 'status', 'POST');
    expect(post.status).to.equal(405);
    expect(post.headers.allow).to.equal('GET, HEAD');
    const missing = await fetchRaw(server.url + 'nope');
    expect(missing.status).to.equal(404);
    expect(missing.body).to.contain('/metrics');
  });

  it('answers a failing report with 500 and its message, and goes on serving', async () => {
    let fail = true;
    server = await startStatusServer('127.0.0.1', 0, () => {
      if (fail) throw new Error('driver not ready');
      return report();
    });
    const bad = await fetchRaw(server.url + 'metrics');
    expect(bad.status).to.equal(500);
    expect(bad.body).to.contain('driver not ready');
    fail = false;
    expect((await fetchRaw(server.url + 'metrics')).status).to.equal(200);
    // The liveness probe needs no report.
    fail = true;
    expect((await fetchRaw(server.url + 'healthz')).status).to.equal(200);
  });

  it('refuses an address in use or a bad port with a message naming the address', async () => {
    server = await startStatusServer('127.0.0.1', 0, () => report());
    const port = Number(new URL(server.url).port);
    let err: Error | undefined;
    await startStatusServer('127.0.0.1', port, () => report()).catch((e: Error) => (err = e));
    expect(err?.message).to.match(new RegExp(`cannot serve the status page on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
    err = undefined;
    await startStatusServer('127.0.0.1', 70000, () => report()).catch((e: Error) => (err = e));
    expect(err).to.be.instanceOf(RangeError);
  });

  it('closes, ending the connections of its clients: idle keep-alive ones and one stuck mid-request', async () => {
    server = await startStatusServer('127.0.0.1', 0, () => report());
    const { port } = new URL(server.url);
    const agent = new Agent({ keepAlive: true });
    try {
      const idleClosed = new Promise<void>((resolve) => {
        const req = request(server!.url + 'status', { agent }, (res) => res.resume());
        req.on('socket', (socket) => socket.once('close', () => resolve()));
        req.end();
      });
      // A client that sent half a request and went quiet: only closing every connection ends it.
      const stuck = connect(Number(port), '127.0.0.1');
      const stuckClosed = new Promise<void>((resolve) => stuck.once('close', () => resolve()));
      await new Promise<void>((resolve) => stuck.once('connect', () => resolve()));
      stuck.write('GET /status HTTP/1.1\r\nHost: x\r\n');
      // Let the first response end, so its connection sits idle in the agent's pool.
      await new Promise((r) => setTimeout(r, 50));
      await server.close();
      server = undefined;
      // The server, not the clients, ends both (the agent would keep its connection, the stuck one waits forever).
      await Promise.all([idleClosed, stuckClosed]);
    } finally {
      agent.destroy();
    }
  });
});
