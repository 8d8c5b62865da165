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
/** Discord bot tokens, AWS access key ids, and long opaque blobs such as Step Functions task tokens. */
const SECRET_VALUE_PATTERNS: readonly RegExp[] = [
  /[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}/g,
  /\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}\b/g,
  /(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/=_-]{120,}(?![A-Za-z0-9+/=_-])/g,
];

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
    return out;
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
  return winston.createLogger({
    level: options.level ?? 'info',
    format: winston.format.combine(...base, output),
    transports: [new winston.transports.Stream({ stream })],
  });
}

/** A logger that drops everything; for tests and one-shot commands that want quiet. */
export function createSilentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
