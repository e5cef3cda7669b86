import { pino, type Logger, type DestinationStream } from 'pino';

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
];

export interface LoggerOptions {
  level?: string;
  /** Where lines go; defaults to stderr so that stdout stays for command output. */
  destination?: DestinationStream;
}

/** Creates the root logger; components take `logger.child({ component })`. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.KIOSK_LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { app: 'kiosk-agent' },
    },
    options.destination ?? pino.destination(2),
  );
}
