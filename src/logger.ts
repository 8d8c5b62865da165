import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'json' | 'pretty' | 'auto';

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Exact secret values (Discord token, AWS secret key) to mask wherever they appear. */
  secrets?: readonly string[];
  /** Where log lines go; stderr by default so stdout stays clean for command output. */
  stream?: NodeJS.WritableStream;
  /** Used by `auto`: pretty when this stream is a terminal. */
  isTty?: boolean;
}

export type Logger = winston.Logger;

export const REDACTED = '[REDACTED]';

/** Keys whose values are never logged, whatever they hold. */
const SECRET_KEY = /(token|secret|password|passwd|credential|authorization|cookie|private[-_]?key|session[-_]?key)/i;
/** Discord bot tokens and AWS access key ids. */
const SECRET_VALUE_PATTERNS: readonly RegExp[] = [
  /[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}/g,
  /\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}\b/g,
];

/** Long opaque blobs such as Step Functions task tokens (base64: letters, digits, + / = _ -). */
const OPAQUE_RUN = /(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/=_-]{120,}(?![A-Za-z0-9+/=_-])/g;
/** Where sentinel's own S3 keys start: evidence, records, block and isolation records, intel, approvals. */
const KEY_PREFIX = /^(?:evidence|incidents|incident-index|blocks|isolations|intel|sentinel)\//;
/** A path segment that looks like a blob rather than a name: long, with upper- and lower-case letters and digits. */
const BLOB_SEGMENT = /^(?=[^/]*[A-Z])(?=[^/]*[a-z])(?=[^/]*\d)[^/]{64,}$/;

/**
 * Whether a long run is a location (an absolute path, the `//bucket/key` of an `s3://` URL, or one of
 * sentinel's own S3 keys), which stays readable, rather than an opaque blob. A location with a
 * blob-like segment is still masked: a token that happens to start with `/` does not get through.
 */
function isLocation(run: string): boolean {
  if (!run.startsWith('/') && !KEY_PREFIX.test(run)) return false;
  return !run.split('/').some((segment) => BLOB_SEGMENT.test(segment));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Returns a function that masks secrets in any string. */
export function createStringRedactor(secrets: readonly string[] = []): (s: string) => string {
  const exact = secrets.filter((s) => s.length >= 6).map((s) => new RegExp(escapeRegExp(s), 'g'));
  const patterns = [...exact, ...SECRET_VALUE_PATTERNS];
  return (s: string) => {
    let out = s;
    for (const p of patterns) out = out.replace(p, REDACTED);
    return out.replace(OPAQUE_RUN, (run) => (isLocation(run) ? run : REDACTED));
  };
}

/** Deep-copies a value with secrets masked: by key name and by value shape. */
export function redactValue(value: unknown, redactString: (s: string) => string, depth = 0): unknown {
  if (depth > 8) return '[Truncated]';
  if (typeof value === 'string') return redactString(value);
  if (value instanceof Error) {
    return { name: value.name, message: redactString(value.message), ...(value.cause ? { cause: redactValue(value.cause, redactString, depth + 1) } : {}) };
  }
  if (Array.isArray(value)) return value.map((v) => redactValue(v, redactString, depth + 1));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null && v !== '' ? REDACTED : redactValue(v, redactString, depth + 1);
    }
    return out;
  }
  return value;
}

const SYMBOLS = [Symbol.for('level'), Symbol.for('message'), Symbol.for('splat')];

function redactFormat(redactString: (s: string) => string) {
  return winston.format((info) => {
    const kept = new Map<symbol, unknown>();
    for (const s of SYMBOLS) kept.set(s, (info as Record<symbol, unknown>)[s]);
    for (const key of Object.keys(info)) {
      if (key === 'level') continue;
      const v = (info as Record<string, unknown>)[key];
      (info as Record<string, unknown>)[key] =
        SECRET_KEY.test(key) && v !== undefined && v !== null && v !== '' ? REDACTED : redactValue(v, redactString);
    }
    for (const [s, v] of kept) if (v !== undefined) (info as Record<symbol, unknown>)[s] = v;
    return info;
  })();
}

/**
 * Creates the process logger. JSON lines by default; `pretty` (or `auto` on a
 * terminal) prints readable lines. Child loggers (`logger.child({ incidentId })`)
 * carry incident, message and interaction ids. Secrets never reach a line.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const stream = options.stream ?? process.stderr;
  const tty = options.isTty ?? Boolean((stream as { isTTY?: boolean }).isTTY);
  const format = options.format === 'auto' || options.format === undefined ? (tty ? 'pretty' : 'json') : options.format;
  const redactString = createStringRedactor(options.secrets ?? []);
  const base = [winston.format.errors({ stack: false }), winston.format.timestamp(), redactFormat(redactString)];
  const output =
    format === 'json'
      ? winston.format.json()
      : winston.format.printf((info) => {
          const { level, message, timestamp, ...rest } = info as Record<string, unknown>;
          const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
          return `${String(timestamp)} ${String(level).toUpperCase().padEnd(5)} ${String(message)}${extra}`;
        });
  return skipDisabledLevels(
    winston.createLogger({
      level: options.level ?? 'info',
      format: winston.format.combine(...base, output),
      transports: [new winston.transports.Stream({ stream })],
    }),
  );
}

/**
 * winston filters a line by level only after it has gone through the logger's stream: a `debug`
 * call at level `info` still builds its line and writes it (a storm's repeats log one each). The
 * level methods of `logger` (and of its children, which inherit them) return at once for a level
 * that is off, checked at each call (a level changed later applies).
 */
function skipDisabledLevels(logger: Logger): Logger {
  for (const level of Object.keys(logger.levels)) {
    const method = (logger as unknown as Record<string, unknown>)[level];
    if (typeof method !== 'function') continue;
    const write = method as (this: Logger, ...args: unknown[]) => Logger;
    Object.defineProperty(logger, level, {
      configurable: true,
      writable: true,
      value(this: Logger, ...args: unknown[]): Logger {
        return this.isLevelEnabled(level) ? write.apply(this, args) : this;
      },
    });
  }
  return logger;
}

/** A logger that drops everything; for tests and one-shot commands that want quiet. */
export function createSilentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
