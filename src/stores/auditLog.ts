/**
 * The bot's audit trail: who did what, when, with what outcome. Append-only; read back for
 * tests and the incident report. Entries are redacted before they are stored: task tokens and
 * other secrets never reach the log, whatever a caller puts in `detail`.
 */
import { z } from 'zod';
import { createStringRedactor, REDACTED, redactValue } from '../logger.js';

export const auditEntrySchema = z.object({
  at: z.iso.datetime({ offset: true }),
  who: z.string().min(1).max(200),
  what: z.string().min(1).max(200),
  incidentId: z.string().min(1).max(128).optional(),
  approvalId: z.string().min(1).max(64).optional(),
  /** e.g. `ok`, `denied`, `failed`, `decided`, `pending-second`… */
  outcome: z.string().min(1).max(100),
  detail: z.unknown(),
});

export type AuditEntry = z.output<typeof auditEntrySchema>;

export interface AuditEntryInput {
  at: Date | string;
  who: string;
  what: string;
  incidentId?: string;
  approvalId?: string;
  outcome: string;
  /** Any JSON-able value; redacted, and cut to 64 KiB of JSON, before it is stored. */
  detail?: unknown;
}

export interface AuditFilter {
  incidentId?: string;
  approvalId?: string;
  who?: string;
  what?: string;
  outcome?: string;
  /** Entries at or after this time. */
  since?: Date;
  /** Entries before this time. */
  until?: Date;
  /** At most this many, the most recent ones (still oldest first). */
  limit?: number;
}

export interface AuditLog {
  /** Appends one entry (redacted) and returns what was stored. */
  append(entry: AuditEntryInput): Promise<AuditEntry>;
  /** Entries matching every given field, oldest first. A corrupt line is an error naming file and line. */
  readAudit(filter?: AuditFilter): Promise<AuditEntry[]>;
}

export const MAX_AUDIT_DETAIL_BYTES = 64 * 1024;

/**
 * `token=…`, `taskToken: …`, `"taskToken":"…"` in free text: the value is masked even when it is
 * too short or too regular for the logger's shape patterns (moto's task tokens are UUIDs).
 */
const TOKEN_ASSIGNMENT = /((?:task[_-]?)?token["']?\s*[:=]\s*["']?)[^\s"',;}&]+/gi;

/** Masks secrets in strings: exact known secrets, secret-shaped values, and `token=…` assignments. */
export function createAuditRedactor(secrets: readonly string[] = []): (s: string) => string {
  const base = createStringRedactor(secrets);
  return (s: string) => base(s).replace(TOKEN_ASSIGNMENT, `$1${REDACTED}`);
}

function boundedDetail(detail: unknown): unknown {
  let json: string | undefined;
  try {
    json = JSON.stringify(detail);
  } catch {
    return { unserializable: true, type: typeof detail };
  }
  if (json === undefined) return undefined;
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes <= MAX_AUDIT_DETAIL_BYTES) return JSON.parse(json) as unknown;
  const preview = Buffer.from(json, 'utf8').subarray(0, 1024).toString('utf8').replace(/\uFFFD+$/, '');
  return { truncated: true, bytes, preview };
}

/** The entry as it will be stored: secrets masked (by key name and by value), detail bounded. */
export function redactAuditEntry(entry: AuditEntryInput, redact: (s: string) => string): AuditEntry {
  const at = entry.at instanceof Date ? entry.at.toISOString() : entry.at;
  const detail = boundedDetail(redactValue(entry.detail ?? {}, redact));
  return {
    at,
    who: redact(entry.who),
    what: redact(entry.what),
    ...(entry.incidentId !== undefined ? { incidentId: entry.incidentId } : {}),
    ...(entry.approvalId !== undefined ? { approvalId: entry.approvalId } : {}),
    outcome: redact(entry.outcome),
    detail,
  };
}

export function matchesAuditFilter(entry: AuditEntry, filter: AuditFilter): boolean {
  if (filter.incidentId !== undefined && entry.incidentId !== filter.incidentId) return false;
  if (filter.approvalId !== undefined && entry.approvalId !== filter.approvalId) return false;
  if (filter.who !== undefined && entry.who !== filter.who) return false;
  if (filter.what !== undefined && entry.what !== filter.what) return false;
  if (filter.outcome !== undefined && entry.outcome !== filter.outcome) return false;
  const at = Date.parse(entry.at);
  if (filter.since !== undefined && at < filter.since.getTime()) return false;
  if (filter.until !== undefined && at >= filter.until.getTime()) return false;
  return true;
}
