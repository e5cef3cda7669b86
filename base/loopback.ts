/**
 * Who may talk to a loopback-only HTTP server (the health/simulator API, the customer screen).
 * Binding to 127.0.0.1 keeps the network out but not a web page: a page on evil.example whose name
 * is re-pointed to 127.0.0.1 (DNS rebinding) reaches the port with `Host: evil.example:<port>`, and
 * any page can send a cross-site form or fetch. So a request must name the loopback host and our
 * port, and a browser's request must come from our own loopback origin.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Why a request was refused; `status` is the HTTP status to answer with. */
export interface LoopbackRefusal {
  status: 403 | 421;
  reason: 'host_not_loopback' | 'origin_not_loopback' | 'cross_site';
}

/** The Host values a client addressing this server on loopback sends. */
export function loopbackHosts(port: number): string[] {
  return [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`];
}

/** Host only (one of the loopback names with our port, else 421): for public static files, which any site may link to. */
export function checkLoopbackHost(headers: IncomingHttpHeaders, port: number): LoopbackRefusal | null {
  const host = headers.host?.toLowerCase();
  return host && loopbackHosts(port).includes(host) ? null : { status: 421, reason: 'host_not_loopback' };
}

/**
 * Checks Host (one of the loopback names with our port, else 421), Origin when present (the same
 * loopback origin as Host, else 403) and, when a browser says so, that the request is not from
 * another site (`Sec-Fetch-Site: cross-site` or `same-site`, else 403). Null when the request may pass.
 */
export function checkLoopbackRequest(headers: IncomingHttpHeaders, port: number): LoopbackRefusal | null {
  const misdirected = checkLoopbackHost(headers, port);
  if (misdirected) return misdirected;
  const host = headers.host!.toLowerCase();
  const origin = headers.origin;
  if (origin !== undefined && origin.toLowerCase() !== `http://${host}`) return { status: 403, reason: 'origin_not_loopback' };
  const site = headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return { status: 403, reason: 'cross_site' };
  return null;
}
