import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Observable, Subscription } from 'rxjs';
import { dashboardPage } from './page.js';

/** One row per step: `{ step, 'reward/mean': …, 'spec_decode/acceptance_rate': … }`. */
export type MetricsRow = Readonly<Record<string, number | string>> & { readonly step: number };

export interface DashboardOptions {
  /** Step metrics, live (never completing until the run ends) or replayed from a log. */
  readonly metrics$: Observable<MetricsRow>;
  readonly title: string;
  readonly port?: number;
  readonly host?: string;
}

export interface Dashboard {
  readonly url: string;
  close(): Promise<void>;
}

const uplotDir = dirname(createRequire(import.meta.url).resolve('uplot'));
const assets: Readonly<Record<string, [string, string]>> = {
  '/assets/uPlot.iife.min.js': ['uPlot.iife.min.js', 'text/javascript'],
  '/assets/uPlot.min.css': ['uPlot.min.css', 'text/css'],
};

/**
 * Serves the dashboard page and a Server-Sent-Events stream of step metrics.
 *
 * 1. Subscribes once to `metrics$`, keeping every row (a run has few steps).
 * 2. `/metrics/stream`: each client first gets the rows so far, then each new row as an
 *    `event: metrics`; `event: done` once `metrics$` completes. `/metrics.json`: all rows.
 * 3. An error in `metrics$` is sent as `event: failed` and logged; the server stays up.
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const rows: MetricsRow[] = [];
  const clients = new Set<ServerResponse>();
  let done = false;
  const send = (res: ServerResponse, event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

  const subscription: Subscription = options.metrics$.subscribe({
    next: (row) => {
      rows.push(row);
      for (const c of clients) send(c, 'metrics', row);
    },
    complete: () => {
      done = true;
      for (const c of clients) send(c, 'done', { steps: rows.length });
    },
    error: (err: unknown) => {
      process.stderr.write(`dashboard: metrics stream failed: ${String(err)}\n`);
      for (const c of clients) send(c, 'failed', { message: String(err) });
    },
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(dashboardPage(options.title));
    } else if (path === '/metrics.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(rows));
    } else if (path === '/metrics/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      for (const row of rows) send(res, 'metrics', row);
      if (done) send(res, 'done', { steps: rows.length });
      clients.add(res);
      req.on('close', () => clients.delete(res));
    } else if (assets[path]) {
      const [file, type] = assets[path]!;
      res.writeHead(200, { 'content-type': type }).end(await readFile(join(uplotDir, file)));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}\n`);
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => res.writeHead(500).end(String(err)));
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://${host}:${port}/`,
    close: async () => {
      subscription.unsubscribe();
      for (const c of clients) c.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
