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

const SECRETS = new Set(SECRET_FIELDS);
const CENSOR = '[redacted]';
/** How deep the redaction looks: a logged field, its fields, and theirs. */
const REDACT_DEPTH = 2;
/** Logged under these keys, a value is cut down by its serializer to fields that hold no secret. */
const SERIALIZED = new Set(['req']);

const isWalked = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null || Array.isArray(value);
};

/** A copy of `error` of the same class, its message and stack kept, with `fields` over its own. */
function errorWith(error: Error, fields: Record<string, unknown>): Error {
  const copy = Object.create(Object.getPrototypeOf(error)) as Error;
  Object.defineProperty(copy, 'message', { value: error.message, enumerable: false });
  Object.defineProperty(copy, 'stack', { value: error.stack, enumerable: false });
  return Object.assign(copy, fields);
}

/**
 * `value` with every field named in SECRET_FIELDS, down to REDACT_DEPTH, replaced by the
 * censor; copied where something was replaced, never changed in place. Plain objects, arrays and
 * errors are looked into; other objects are logged through a serializer or not at all.
 */
function redacted(value: unknown, depth: number): unknown {
  if (depth > REDACT_DEPTH || value === null || typeof value !== 'object') return value;
  const error = value instanceof Error;
  if (!error && !isWalked(value)) return value;
  const source = value as Record<string, unknown>;
  let changed: Record<string, unknown> | undefined;
  for (const key of Object.keys(source)) {
    const field = source[key];
    const next = SECRETS.has(key) ? CENSOR : redacted(field, depth + 1);
    if (next === field) continue;
    changed ??= Array.isArray(source) ? ([...source] as never) : error ? {} : { ...source };
    changed[key] = next;
  }
  if (!changed) return value;
  return error ? errorWith(value, changed) : changed;
}

/**
 * The redaction of every logged object and every child logger's bindings: one walk over at most
 * three levels, by a set of field names. pino's own `redact` (fast-redact) did the same with 45
 * paths, most of them wildcards, at about 15 times the cost of the rest of writing a line.
 */
function redactTop(object: Record<string, unknown>): Record<string, unknown> {
  let changed: Record<string, unknown> | undefined;
  for (const key of Object.keys(object)) {
    const field = object[key];
    if (SERIALIZED.has(key)) continue;
    const next = SECRETS.has(key) ? CENSOR : redacted(field, 1);
    if (next === field) continue;
    changed ??= { ...object };
    changed[key] = next;
  }
  return changed ?? object;
}

export interface LoggerConfig {
  level?: LoggerOptions['level'];
  /** Where lines go; defaults to stdout. Tests pass a stream to read what was logged. */
  destination?: pino.DestinationStream;
}

export function createLogger({ level = 'info', destination }: LoggerConfig = {}): Logger {
  const options: LoggerOptions = {
    level,
    formatters: { log: redactTop },
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
  const logger = destination ? pino(options, destination) : pino(options);
  return withRedactedBindings(logger);
}

/**
 * A child logger's bindings redacted like every logged object. pino gives a child its parent's
 * `log` formatter but not its `bindings` one, and each child is made from its parent, so the
 * root's `child` serves the whole tree.
 */
function withRedactedBindings(logger: Logger): Logger {
  const child = logger.child;
  logger.child = function redactedChild(this: Logger, bindings, childOptions) {
    return child.call(this, redactTop(bindings), childOptions);
  } as Logger['child'];
  return logger;
}
