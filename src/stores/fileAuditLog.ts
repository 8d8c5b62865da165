/**
 * The audit log as JSON lines in `<dir>/audit.ndjson` (mode 0600). Append-only: each entry is one
 * line written with one append (O_APPEND) call; appends from this instance go out in call order.
 * A line cut short by a crash is ignored when reading, and moved to `audit.ndjson.torn` before
 * the next append, so every line of the log stays parseable.
 */
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AuditEntry,
  type AuditEntryInput,
  type AuditFilter,
  type AuditLog,
  auditEntrySchema,
  createAuditRedactor,
  matchesAuditFilter,
  redactAuditEntry,
} from './auditLog.js';
import { ensureDir, isErrno, parseNdjson, repairTornTail, validateInput } from './storeIo.js';

export interface FileAuditLogOptions {
  /** The directory of `audit.ndjson` (created when missing). */
  dir: string;
  /** fsync after each line; default false. */
  fsync?: boolean;
  /** Exact secret values to mask wherever they appear (e.g. the Discord token). */
  secrets?: readonly string[];
}

export class FileAuditLog implements AuditLog {
  readonly #dir: string;
  readonly #path: string;
  readonly #fsync: boolean;
  readonly #redact: (s: string) => string;
  #queue: Promise<unknown> = Promise.resolve();
  /** Whether the file's tail was checked (and repaired) since this instance started. */
  #tailChecked = false;

  constructor(options: FileAuditLogOptions) {
    this.#dir = options.dir;
    this.#path = join(options.dir, 'audit.ndjson');
    this.#fsync = options.fsync ?? false;
    this.#redact = createAuditRedactor(options.secrets ?? []);
  }

  get path(): string {
    return this.#path;
  }

  async append(input: AuditEntryInput): Promise<AuditEntry> {
    const entry = validateInput(auditEntrySchema, redactAuditEntry(input, this.#redact), 'audit entry');
    const run = this.#queue.then(async () => {
      await ensureDir(this.#dir);
      if (!this.#tailChecked) {
        await repairTornTail(this.#path);
        this.#tailChecked = true;
      }
      const line = `${JSON.stringify(entry)}\n`;
      const handle = await open(this.#path, 'a', 0o600);
      try {
        await handle.write(line);
        if (this.#fsync) await handle.sync();
      } finally {
        await handle.close();
      }
      return entry;
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async readAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    await this.#queue;
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    const matching = parseNdjson(auditEntrySchema, text, this.#path).values.filter((e) => matchesAuditFilter(e, filter));
    return filter.limit !== undefined ? matching.slice(Math.max(0, matching.length - filter.limit)) : matching;
  }
}
