/**
 * The customer screen server: a static page and one WebSocket on 127.0.0.1 only. The agent calls
 * `show()` with typed events (session, prompt, progress, verdict, reset) and `preview()` with
 * camera frames; the page's buttons come back as `actions` events, validated. The document step
 * (`showDocument`, `askAccessKey`: the MRZ form) is `DocumentPrompt`'s; its entries never reach `actions`.
 * Preview frames go only to the sockets of this server: they are never logged, stored or kept
 * after they are sent, and none are sent outside a session (before `session`, after `verdict`).
 *
 * Loopback is not a boundary between local processes: any of them could open the socket and watch
 * the customer's face. So `start()` draws a secret (256 bits, new at every start, never logged) and
 * the socket is opened only with it (`/ws?k=<secret>`, compared in constant time; else 401 and
 * nothing is sent). The kiosk browser gets it in the launch URL's fragment (`launchUrl`, which the
 * daemon writes to a 0600 file for the browser's launcher, see `launchFile`); the page reads it
 * from `location.hash` (a fragment is never sent in a request or a Referer).
 */
import { EventEmitter } from 'node:events';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { RgbImage } from '../../base/rgb-image.js';
import { KioskError } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import { checkLoopbackHost, checkLoopbackRequest } from '../../base/loopback.js';
import { removeLaunchFile, writeLaunchFile } from './launch-file.js';
import type { MrzAccessKey, MrzKeyFields } from '../../device/document/mrz.js';
import { DocumentPrompt } from './document-prompt.js';
import { PreviewEncoder, type PreviewOptions } from './preview.js';
import {
  LANGUAGES,
  MAX_PAGE_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  parsePageMessage,
  type DocumentState,
  type Language,
  type PageMessage,
  type ScreenMessage,
} from './protocol.js';

/** The events the agent shows (the rest of `ScreenMessage` is the server's own). */
export type ScreenEvent = Extract<ScreenMessage, { type: 'session' | 'prompt' | 'progress' | 'verdict' | 'reset' | 'assist' | 'document' }>;

export interface ScreenDeps {
  logger: Logger;
  /** TCP port on 127.0.0.1; 0 picks a free one. Default 8741. */
  port?: number;
  /** Directory of the static page; default `public/` beside this module (or the source tree's, when run from `dist/`). */
  publicDir?: string;
  preview?: Partial<PreviewOptions>;
  /** Language shown until the customer picks one. Default `zh-Hans`. */
  language?: Language;
  now?: () => number;
  /**
   * File the launch URL (with the secret) is written to at start, mode 0600, and removed at stop:
   * what the kiosk browser's launcher reads. None by default (`launchUrl` is then the only way to it).
   */
  launchFile?: string;
}

export const DEFAULT_SCREEN_PORT = 8741;
const HOST = '127.0.0.1';
/** Bytes queued on a socket above which preview frames are skipped for it (a slow page never queues frames). */
const MAX_BUFFERED = 256 * 1024;

const FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/screen.css': { file: 'screen.css', type: 'text/css; charset=utf-8' },
  '/screen.js': { file: 'screen.js', type: 'text/javascript; charset=utf-8' },
  '/i18n.js': { file: 'i18n.js', type: 'text/javascript; charset=utf-8' },
  '/i18n/en.json': { file: 'i18n/en.json', type: 'application/json; charset=utf-8' },
  '/i18n/zh-Hans.json': { file: 'i18n/zh-Hans.json', type: 'application/json; charset=utf-8' },
};

/** `public/` beside this module, else the source tree's (the build does not copy static files). */
export function defaultPublicDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'public'), resolve(here, '../../../agent/screen/public')];
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? candidates[0];
}

/** What the page sends back. */
export interface ScreenActionEvents {
  /** The customer pressed a button (language, cancel, help), already validated. MRZ entries go to `askAccessKey` only. */
  action: [Exclude<PageMessage, { type: 'mrz_entry' }>];
}

export class CustomerScreen {
  readonly actions = new EventEmitter<ScreenActionEvents>();
  private server: Server | null = null;
  private wss: WebSocketServer | null = null;
  private readonly clients = new Set<WebSocket>();
  private readonly files = new Map<string, Buffer>();
  private readonly encoder: PreviewEncoder;
  private readonly log: Logger;
  private language: Language;
  /** What a page that connects mid-session must be told: the session's messages so far, latest of each type. */
  private snapshot: ScreenEvent[] = [];
  /** A remote-assistance call in progress (independent of sessions: it outlives a verdict or a reset). */
  private assist?: Extract<ScreenEvent, { type: 'assist' }>;
  private inSession = false;
  private port = 0;
  private clientWaiters: Array<() => void> = [];
  /** The socket's secret for this start (base64url of 32 random bytes); empty until started. */
  private secret = '';
  private readonly document: DocumentPrompt;

  constructor(private readonly deps: ScreenDeps) {
    this.log = deps.logger.child({ component: 'screen' });
    this.document = new DocumentPrompt({ logger: this.log, show: (m) => this.show(m) });
    this.language = deps.language ?? LANGUAGES[0];
    this.encoder = new PreviewEncoder(
      { send: (jpeg) => this.sendPreview(jpeg), wanted: () => this.inSession && this.clients.size > 0, now: deps.now },
      deps.preview,
    );
  }

  /** `http://127.0.0.1:<port>/` once started. */
  get url(): string {
    if (!this.server) throw new KioskError('E_INTERNAL', 'customer screen not started', { subject: 'screen' });
    return `http://${HOST}:${this.port}/`;
  }

  /**
   * `http://127.0.0.1:<port>/#k=<secret>`: the URL the kiosk browser opens. Holds the secret: give it
   * only to the browser (the launch file), never to a log.
   */
  get launchUrl(): string {
    return `${this.url}#k=${this.secret}`;
  }

  /** Number of pages connected. */
  get connected(): number {
    return this.clients.size;
  }

  /** Loads the page, draws the socket's secret, listens on 127.0.0.1 and writes the launch file. Returns `url` (no secret). */
  async start(): Promise<string> {
    const dir = this.deps.publicDir ?? defaultPublicDir();
    for (const { file } of Object.values(FILES)) {
      try {
        this.files.set(file, await readFile(join(dir, file)));
      } catch (err) {
        throw new KioskError('E_INPUT_NOT_FOUND', 'customer screen page file missing', { subject: join(dir, file), cause: err });
      }
    }
    const server = createServer((req, res) => this.serve(req, res));
    const wss = new WebSocketServer({ noServer: true, maxPayload: 8 * MAX_PAGE_MESSAGE_BYTES });
    this.secret = randomBytes(32).toString('base64url');
    server.on('upgrade', (req, socket, head) => {
      const refusal = this.upgradeRefusal(req);
      if (refusal) return this.refuseUpgrade(req, socket, refusal);
      wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws));
    });
    await new Promise<void>((ok, fail) => {
      server.once('error', (err) =>
        fail(
          new KioskError('E_DEVICE', `customer screen cannot listen on ${HOST}:${this.deps.port ?? DEFAULT_SCREEN_PORT}`, { subject: 'screen', cause: err }),
        ),
      );
      server.listen(this.deps.port ?? DEFAULT_SCREEN_PORT, HOST, () => ok());
    });
    this.server = server;
    this.wss = wss;
    this.port = (server.address() as AddressInfo).port;
    if (this.deps.launchFile) await writeLaunchFile(this.deps.launchFile, this.launchUrl);
    this.log.info({ url: this.url, launchFile: this.deps.launchFile ?? null }, 'customer screen listening');
    return this.url;
  }

  /** Closes every page's socket and the server; drops the session state. */
  async stop(): Promise<void> {
    this.document.close();
    this.inSession = false;
    this.snapshot = [];
    this.assist = undefined;
    await this.encoder.idle();
    for (const ws of this.clients) ws.terminate();
    this.clients.clear();
    for (const w of this.clientWaiters) w();
    this.clientWaiters = [];
    const server = this.server;
    this.server = null;
    this.wss?.close();
    this.wss = null;
    if (server) await new Promise<void>((ok) => server.close(() => ok()));
    this.files.clear();
    this.secret = '';
    if (this.deps.launchFile) await removeLaunchFile(this.deps.launchFile);
  }

  /** Shows an event on every page (and on pages that connect later, until the next `session` or `reset`). */
  show(event: ScreenEvent): void {
    switch (event.type) {
      case 'assist':
        this.assist = event.state === 'ended' ? undefined : event;
        break;
      case 'session':
        this.snapshot = [event];
        this.inSession = true;
        break;
      case 'reset':
        this.snapshot = [];
        this.inSession = false;
        break;
      case 'verdict':
        this.inSession = false;
        this.snapshot = [...this.snapshot.filter((e) => e.type === 'session'), event];
        break;
      default:
        this.snapshot = [...this.snapshot.filter((e) => e.type !== event.type), event];
    }
    this.broadcast(event);
  }

  /** Shows where reading the ID document is (every state but `check_mrz`, which `askAccessKey` shows). */
  showDocument(state: Exclude<DocumentState, 'check_mrz'>): void {
    this.document.show(state);
  }

  /**
   * Asks the customer to check or correct the MRZ fields OCR read (`invalid`: the fields its checks
   * refused) and resolves with the chip's access key; E_ABORTED on the signal or Cancel. See `DocumentPrompt.ask`.
   */
  askAccessKey(initial: Partial<MrzKeyFields>, invalid: readonly string[], signal: AbortSignal): Promise<MrzAccessKey> {
    return this.document.ask(initial, invalid, signal);
  }

  /** Offers a camera frame for the preview (dropped unless a session is on and a page is watching). */
  preview(image: RgbImage): void {
    this.encoder.offer(image);
  }

  /** Resolves when a page is connected, or after `timeoutMs` (false), or on abort (false). */
  async waitForClient(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.clients.size > 0) return true;
    let timer: NodeJS.Timeout | undefined;
    let wake: () => void = () => undefined;
    await new Promise<void>((ok) => {
      wake = ok;
      this.clientWaiters.push(ok);
      timer = setTimeout(ok, timeoutMs);
      signal?.addEventListener('abort', () => ok(), { once: true });
    });
    clearTimeout(timer);
    this.clientWaiters = this.clientWaiters.filter((w) => w !== wake);
    return this.clients.size > 0;
  }

  /**
   * Why an upgrade is refused, or null: the path must be /ws, the request addressed to our loopback
   * name from our loopback origin (a browser always sends Origin), and it must carry the secret.
   */
  private upgradeRefusal(req: IncomingMessage): { status: 401 | 403 | 404 | 421; reason: string } | null {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/ws') return { status: 404, reason: 'not_ws' };
    const loopback = checkLoopbackRequest(req.headers, this.port);
    if (loopback) return loopback;
    if (req.headers.origin === undefined) return { status: 403, reason: 'origin_missing' };
    if (!sameSecret(url.searchParams.get('k') ?? '', this.secret)) return { status: 401, reason: 'secret' };
    return null;
  }

  /** Answers a refused upgrade and closes; logs the reason and path (never the query: it may hold a secret). */
  private refuseUpgrade(req: IncomingMessage, socket: Duplex, refusal: { status: number; reason: string }): void {
    const path = (req.url ?? '/').split('?')[0];
    this.log.warn({ path, reason: refusal.reason, origin: req.headers.origin ?? null }, 'websocket upgrade refused');
    const body = JSON.stringify({ error: 'websocket upgrade refused', code: refusal.reason });
    const text = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 421: 'Misdirected Request' }[refusal.status] ?? 'Forbidden';
    socket.end(
      `HTTP/1.1 ${refusal.status} ${text}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const entry = FILES[path];
    // Only requests addressed to the loopback name and our port (a DNS-rebinding page sends its own host).
    // The files themselves hold nothing secret (the launcher's redirect page links to them from file:).
    const refused = checkLoopbackHost(req.headers, this.port);
    if (refused) {
      res.writeHead(refused.status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'request refused', code: refused.reason }));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (!entry) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const body = this.files.get(entry.file)!;
    res.writeHead(200, {
      'content-type': entry.type,
      'content-length': body.length,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      // The page loads nothing from elsewhere and talks only to this server.
      'content-security-policy': `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self' ws://${HOST}:${this.port} ws://localhost:${this.port}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private attach(ws: WebSocket): void {
    this.clients.add(ws);
    this.log.info({ pages: this.clients.size }, 'customer page connected');
    this.send(ws, { type: 'hello', protocol: PROTOCOL_VERSION, languages: LANGUAGES, language: this.language });
    for (const e of this.snapshot) this.send(ws, e);
    if (this.assist) this.send(ws, this.assist);
    ws.on('message', (data, isBinary) => this.receive(ws, data as Buffer, isBinary));
    ws.on('close', () => {
      this.clients.delete(ws);
      this.log.info({ pages: this.clients.size }, 'customer page disconnected');
    });
    ws.on('error', (err) => this.log.warn({ err: err.message }, 'customer page socket error'));
    for (const w of this.clientWaiters) w();
  }

  private receive(ws: WebSocket, data: Buffer, isBinary: boolean): void {
    const parsed = parsePageMessage(data, isBinary);
    if (!parsed.ok) {
      this.log.warn({ reason: parsed.reason, bytes: data.length }, 'page message refused');
      this.send(ws, { type: 'refused', reason: parsed.reason });
      return;
    }
    const msg = parsed.message;
    // Never the entry's fields in a log line: only its type, or why it was refused.
    const refusal = msg.type === 'mrz_entry' ? this.document.entry(msg) : null;
    if (refusal) {
      this.log.warn({ reason: refusal, action: msg.type }, 'page message refused');
      this.send(ws, { type: 'refused', reason: refusal });
      return;
    }
    this.log.info({ action: msg.type, ...(msg.type === 'language' ? { language: msg.language } : {}) }, 'customer action');
    if (msg.type === 'mrz_entry') return;
    if (msg.type === 'cancel') this.document.cancel();
    if (msg.type === 'language') {
      this.language = msg.language;
      this.broadcast({ type: 'language', language: msg.language });
    }
    this.actions.emit('action', msg);
  }

  private broadcast(msg: ScreenMessage): void {
    for (const ws of this.clients) this.send(ws, msg);
  }

  private send(ws: WebSocket, msg: ScreenMessage): void {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
  }

  private sendPreview(jpeg: Buffer): void {
    if (!this.inSession) return;
    for (const ws of this.clients) {
      if (ws.readyState === ws.OPEN && ws.bufferedAmount < MAX_BUFFERED) ws.send(jpeg, { binary: true });
    }
  }
}

/** Constant-time comparison of a presented secret with ours (hashed first: equal lengths, no early exit). */
function sameSecret(presented: string, secret: string): boolean {
  if (!secret) return false;
  const digest = (v: string) => createHash('sha256').update(v).digest();
  return timingSafeEqual(digest(presented), digest(secret));
}
