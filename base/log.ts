import { pino, type Logger, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';
import { interruptProgress } from './progress.js';

export type { Logger } from 'pino';

/**
 * Paths pino removes from every log line. Biometric data (images, crops, embeddings, templates)
 * and secrets must never reach a log, even by accident, so they are censored by key name too.
 */
export const REDACT_PATHS = [
  'image',
  '*.image',
  'frame',
  '*.frame',
  'crop',
  '*.crop',
  'pixels',
  '*.pixels',
  'data',
  '*.data',
  'embedding',
  '*.embedding',
  'template',
  '*.template',
  'descriptor',
  '*.descriptor',
  'privateKey',
  '*.privateKey',
  'key',
  '*.key',
  'pin',
  '*.pin',
  'password',
  '*.password',
  'token',
  '*.token',
  // identity documents: the MRZ and its fields, the portrait
  'mrz',
  '*.mrz',
  'accessKey',
  '*.accessKey',
  'documentNumber',
  '*.documentNumber',
  'birthDate',
  '*.birthDate',
  'expiryDate',
  '*.expiryDate',
  'portrait',
  '*.portrait',
];

/** `json`: one JSON object a line, for journald and programs. `pretty`: one readable line per entry, for people. */
export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  level?: string;
  /** Where lines go; defaults to stderr so that stdout stays for command output. */
  destination?: DestinationStream;
  /** Default: see `resolveLogFormat`. */
  format?: LogFormat;
  /** Colours in pretty mode; default: when stderr is a terminal that shows them (NO_COLOR, FORCE_COLOR honoured). */
  colorize?: boolean;
}

/**
 * The format a logger writes: `options.format` if given; JSON when the caller gives a destination (a
 * file, a test's sink: something that reads lines back); else `KIOSK_LOG_FORMAT` (json or pretty);
 * else pretty when stderr is a terminal and JSON when it is not (journald, a pipe, a file, CI).
 */
export function resolveLogFormat(
  options: Pick<LoggerOptions, 'format' | 'destination'> = {},
  env: NodeJS.ProcessEnv = process.env,
  stderrIsTTY: boolean = process.stderr.isTTY === true,
): LogFormat {
  if (options.format) return options.format;
  if (options.destination) return 'json';
  const asked = env.KIOSK_LOG_FORMAT?.trim().toLowerCase();
  if (asked === 'json' || asked === 'pretty') return asked;
  return stderrIsTTY ? 'pretty' : 'json';
}

/**
 * Creates the root logger; components take `logger.child({ component })`. Redaction (REDACT_PATHS)
 * happens before either format is written. Pretty lines are formatted in this process and written
 * synchronously (not in a worker thread), so that none is lost when a command calls process.exit.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const format = resolveLogFormat(options);
  const toStderr = options.destination === undefined;
  const logger = pino(
    {
      level: options.level ?? process.env.KIOSK_LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { app: 'kiosk-agent' },
      // A progress line being drawn on the terminal is erased first, so that the entry starts a line of its own.
      ...(toStderr ? { hooks: { logMethod: withProgressErased } } : {}),
    },
    format === 'pretty' ? prettyStream(options) : (options.destination ?? pino.destination(2)),
  );
  const asked = process.env.KIOSK_LOG_FORMAT;
  if (asked && !['json', 'pretty'].includes(asked.trim().toLowerCase())) {
    logger.warn({ KIOSK_LOG_FORMAT: asked }, 'KIOSK_LOG_FORMAT must be json or pretty; ignored');
  }
  return logger;
}

function withProgressErased(this: Logger, args: Parameters<Logger['info']>, method: (...a: Parameters<Logger['info']>) => void): void {
  interruptProgress();
  method.apply(this, args);
}

/** `[12:03:04.567] WARN: [eval] message {"file":"a.jpg"}`: local time, the component first, other fields on the same line (errors with their stack below). */
function prettyStream(options: LoggerOptions): DestinationStream {
  return pretty({
    destination: options.destination ?? 2,
    sync: true,
    colorize: options.colorize ?? (options.destination === undefined && process.stderr.isTTY === true && process.stderr.hasColors()),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,app,component',
    messageFormat: '{if component}[{component}] {end}{msg}',
    singleLine: true,
  });
}
