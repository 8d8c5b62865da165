/**
 * Dead-letter records as files: `<dir>/<messageId>.json`, one per message, replaced atomically
 * (temp file + rename, mode 0600), so a reader (the bot or `sentinel dlq list` on the same data
 * directory) sees a whole record or none. Records older than the retention are deleted by
 * prune(), which record() runs in the background at most once an hour.
 */
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '../errors.js';
import { createStringRedactor } from '../logger.js';
import {
  DEAD_LETTER_ID_PATTERN,
  DEAD_LETTER_RETENTION_MS,
  PRUNE_INTERVAL_MS,
  type DeadLetterRecord,
  type DeadLetterStore,
  deadLetterRecordSchema,
  isExpired,
  safeReason,
} from './deadLetterStore.js';
import { type StoreLogger, ensureDir, isErrno, listDir, parseStored, validateInput, writeFileAtomic } from './storeIo.js';

export interface FileDeadLetterStoreOptions {
  /** The directory (created when missing, mode 0700). */
  dir: string;
  now?: () => Date;
  /** Where unreadable records and failed prunes are reported. */
  logger?: StoreLogger;
  /** Exact secret values masked in reasons (besides tokens and opaque strings, always masked). */
  secrets?: readonly string[];
  /** fsync each write; default true. */
  fsync?: boolean;
}

const RECORD_FILE = /^([A-Za-z0-9_-]{1,128})\.json$/;

export class FileDeadLetterStore implements DeadLetterStore {
  readonly #dir: string;
  readonly #now: () => Date;
  readonly #logger: StoreLogger | undefined;
  readonly #fsync: boolean;
  readonly #redact: (s: string) => string;
  #lastPrune = 0;

  constructor(options: FileDeadLetterStoreOptions) {
    this.#dir = options.dir;
    this.#now = options.now ?? (() => new Date());
    this.#logger = options.logger;
    this.#redact = createStringRedactor(options.secrets ?? []);
    this.#fsync = options.fsync ?? true;
  }

  get location(): string {
    return this.#dir;
  }

  #path(messageId: string): string | undefined {
    return DEAD_LETTER_ID_PATTERN.test(messageId) ? join(this.#dir, `${messageId}.json`) : undefined;
  }

  async record(record: DeadLetterRecord): Promise<void> {
    const checked = validateInput(deadLetterRecordSchema, { ...record, reason: typeof record.reason === 'string' ? safeReason(record.reason, this.#redact) : record.reason }, 'dead-letter record');
    await ensureDir(this.#dir);
    await writeFileAtomic(this.#path(checked.messageId)!, `${JSON.stringify(checked)}\n`, { fsync: this.#fsync });
    this.#pruneNowAndThen();
  }

  async forget(messageId: string): Promise<void> {
    const path = this.#path(messageId);
    if (path) await rm(path, { force: true });
  }

  async get(messageId: string): Promise<DeadLetterRecord | undefined> {
    const path = this.#path(messageId);
    if (!path) return undefined;
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    const record = parseStored(deadLetterRecordSchema, text, path);
    return isExpired(record, this.#now()) ? undefined : record;
  }

  async #names(): Promise<string[]> {
    return (await listDir(this.#dir)).filter((n) => RECORD_FILE.test(n));
  }

  async list(): Promise<DeadLetterRecord[]> {
    const found: DeadLetterRecord[] = [];
    for (const name of await this.#names()) {
      const messageId = RECORD_FILE.exec(name)![1]!;
      try {
        const record = await this.get(messageId);
        if (record) found.push(record);
      } catch (err) {
        this.#logger?.warn('dead-letter store: skipping a record that cannot be read', { location: join(this.#dir, name), error: describeError(err) });
      }
    }
    return found.sort((a, b) => a.at.localeCompare(b.at));
  }

  async prune(): Promise<number> {
    const cutoff = this.#now().getTime() - DEAD_LETTER_RETENTION_MS;
    let removed = 0;
    for (const name of await this.#names()) {
      const path = join(this.#dir, name);
      try {
        if ((await stat(path)).mtimeMs < cutoff) {
          await rm(path, { force: true });
          removed++;
        }
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    return removed;
  }

  /** A prune in the background, at most once per PRUNE_INTERVAL_MS; failures are logged. */
  #pruneNowAndThen(): void {
    const now = this.#now().getTime();
    if (now - this.#lastPrune < PRUNE_INTERVAL_MS) return;
    this.#lastPrune = now;
    void this.prune().catch((err: unknown) => this.#logger?.warn('dead-letter store: prune failed', { location: this.#dir, error: describeError(err) }));
  }
}
