/**
 * A real HTTP server on 127.0.0.1 serving a folder with Range support, and misbehaving on demand:
 * cutting the connection half way, ignoring Range, ending a body early, sending more than the file,
 * answering a wrong Content-Range. Every request is logged (path, Range header, bytes sent).
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Test } from 'tap';

/** How the server answers one request. */
export type ServeMode = 'normal' | 'cut-half' | 'ignore-range' | 'truncate' | 'too-long' | 'bad-range' | 'status-500';

/** One request the server saw. */
export interface ServedRequest {
  path: string;
  range?: string;
  status: number;
  sent: number;
}

/** The running server. */
export interface ReleaseServer {
  url: string;
  log: ServedRequest[];
  /** The mode for the next requests (default normal); a function picks per request. */
  mode: ServeMode | ((path: string, n: number) => ServeMode);
}

/** Serves `root` on 127.0.0.1 until the test ends. */
export async function serveReleases(t: Pick<Test, 'teardown'>, root: string): Promise<ReleaseServer> {
  const state: ReleaseServer = { url: '', log: [], mode: 'normal' };
  const server = createServer((req, res) => {
    handle(state, root, req, res).catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return state;
}

async function handle(state: ReleaseServer, root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  const mode = typeof state.mode === 'function' ? state.mode(path, state.log.length) : state.mode;
  const entry: ServedRequest = { path, range: req.headers.range, status: 0, sent: 0 };
  state.log.push(entry);
  const send = (status: number, headers: Record<string, string | number>, body: Buffer, end = true) => {
    entry.status = status;
    entry.sent = body.length;
    res.writeHead(status, headers);
    if (end) res.end(body);
    else res.write(body, () => setTimeout(() => res.destroy(), 20));
  };
  if (path.includes('..') || mode === 'status-500') return send(mode === 'status-500' ? 500 : 400, {}, Buffer.alloc(0));
  const data = await readFile(join(root, path)).catch(() => undefined);
  if (!data) return send(404, {}, Buffer.alloc(0));
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (m && mode !== 'ignore-range') {
    const start = Number(m[1]);
    if (start >= data.length) return send(416, { 'content-range': `bytes */${data.length}` }, Buffer.alloc(0));
    const from = mode === 'bad-range' ? Math.max(0, start - 10) : start;
    const body = data.subarray(from);
    return send(206, { 'content-range': `bytes ${from}-${data.length - 1}/${data.length}`, 'content-length': body.length }, body);
  }
  switch (mode) {
    case 'cut-half': // Content-Length of the whole file, then the socket is destroyed mid-body.
      return send(200, { 'content-length': data.length }, data.subarray(0, data.length >> 1), false);
    case 'truncate': // a chunked body that ends cleanly but early
      return send(200, {}, data.subarray(0, data.length - 100));
    case 'too-long':
      return send(200, {}, Buffer.concat([data, Buffer.alloc(1000, 7)]));
    default:
      return send(200, { 'content-length': data.length }, data);
  }
}
