// The logger: pino with redaction on by default, so a token or secret that slips into a log
// object comes out as [redacted]. Callers still never log token sets or form bodies.
import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Field names that carry secrets anywhere in a logged object (one or two levels deep). */
const SECRET_FIELDS = [
  'access_token',
  'refresh_token',
  'id_token',
  'client_secret',
  'client_assertion',
  'code_verifier',
  'code',
  'password',
  'authorization',
  'cookie',
  'masterKey',
  'privateKey',
  'secret',
  'token',
  'tokens',
];

export const REDACT_PATHS = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  ...SECRET_FIELDS.map((f) => `*.*.${f}`),
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
];

export interface LoggerConfig {
  level?: LoggerOptions['level'];
  /** Where lines go; defaults to stdout. Tests pass a stream to read what was logged. */
  destination?: pino.DestinationStream;
}

export function createLogger({ level = 'info', destination }: LoggerConfig = {}): Logger {
  const options: LoggerOptions = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      err: pino.stdSerializers.err,
      // Request lines carry the path only: query strings hold authorization codes and states,
      // and a launch link's path holds its state (whoever opens it first binds the sign-in).
      req: (req: { id?: unknown; method?: string; url?: string }) => ({
        id: req.id,
        method: req.method,
        path: req.url?.split('?')[0]?.replace(/^\/launch\/[^/]+/, '/launch/[redacted]'),
      }),
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
