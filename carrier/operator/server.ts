/**
 * Serves the operator page (this folder: index.html, operator.js) and mqtt.js's browser bundle at
 * `vendor/mqtt.min.js`: for tests and for trying the page locally. A carrier hosts the same files
 * on its own web server (see docs/assist.md).
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The files of the page, by URL path. */
export function operatorPageFiles(): Record<string, { path: string; type: string }> {
  const bundle = join(dirname(createRequire(import.meta.url).resolve('mqtt/package.json')), 'dist', 'mqtt.min.js');
  const page = here;
  return {
    '/': { path: join(page, 'index.html'), type: 'text/html; charset=utf-8' },
    '/index.html': { path: join(page, 'index.html'), type: 'text/html; charset=utf-8' },
    '/operator.js': { path: join(page, 'operator.js'), type: 'text/javascript; charset=utf-8' },
    '/vendor/mqtt.min.js': { path: bundle, type: 'text/javascript; charset=utf-8' },
  };
}

/** A static server for the page on `host:port` (port 0: any free port); resolves once listening. */
export async function serveOperatorPage(port = 0, host = '127.0.0.1'): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const files = operatorPageFiles();
  const server = createServer((req, res) => {
    const f = files[new URL(req.url ?? '/', 'http://x').pathname];
    if (!f || req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    readFile(f.path).then(
      (body) => res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const addr = server.address() as { port: number };
  return {
    url: `http://${host}:${addr.port}/`,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
