/**
 * The webhook's durable local backlog. Each accepted event is one file,
 * `<dir>/pending/<id>.json`, written whole under a temporary name, fsync'd, linked to its name
 * and the directory fsync'd, all before the webhook answers 202: an event accepted survives a
 * crash, and a reader never sees half a file (a temporary file a crash leaves is removed on open).
 * The id is assigned at accept time, independent of the content, and sorts in accept order; it is
 * the message id the handler sees on every delivery, so a redelivery after a crash is recognised.
 * An entry that cannot be delivered moves to `<dir>/dead/<id>.json` with the reason. The backlog is
 * bounded by events and by body bytes: past either, accept() refuses (the webhook answers 429).
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { describeError, ValidationError } from '../../errors.js';
import { corruptStateError, createFileExclusive, ensureDir, isErrno, parseStored, syncDir, validateInput, writeFileAtomic } from '../../stores/storeIo.js';

const ENTRY_ID = /^wh-[0-9a-z]{9}-[0-9a-f]{16}$/;
const ENTRY_FILE = /^(wh-[0-9a-z]{9}-[0-9a-f]{16})\.json$/;
/** What storeIo's writes leave behind when a crash cuts them short: `.<name>.<random>.tmp`. */
const TEMP_FILE = /^\..+\.tmp$/;

export const backlogEntrySchema = z
  .object({
    id: z.string().regex(ENTRY_ID),
    acceptedAt: z.iso.datetime(),
    /** The peer address the event came from, as the socket reported it. */
    peer: z.string().max(64).optional(),
    /** Deliveries so far (written before each). */
    receiveCount: z.number().int().min(0),
    /** No delivery before this time (a retry's backoff, kept across restarts). */
    notBefore: z.iso.datetime().optional(),
    lastReason: z.string().max(2000).optional(),
    /** The request body, as received (UTF-8 text of one JSON object). */
    body: z.string(),
  })
  .strict();

export type BacklogEntry = z.output<typeof backlogEntrySchema>;

/** A dead letter: the entry as it was (or its raw text when it could not be read) and why it was set aside. */
export interface DeadBacklogEntry {
  deadAt: string;
  reason: string;
  entry?: BacklogEntry;
  raw?: string;
}

export interface BacklogLimits {
  maxEvents: number;
  maxBytes: number;
}

export type AcceptOutcome = { accepted: true; id: string } | { accepted: false; reason: string };

export interface PendingEntry {
  id: string;
  notBefore: Date | undefined;
}

export interface OpenBacklogOptions {
  /** `<SENTINEL_DATA_DIR>/intake`; `pending/` and `dead/` are created in it (mode 0700). */
  dir: string;
  limits: BacklogLimits;
  now?: () => Date;
  /** Entries that cannot be read on open are set aside and reported here. */
  onUnreadable?: (id: string, reason: string) => void;
}

function newId(now: Date): string {
  return `wh-${now.getTime().toString(36).padStart(9, '0').slice(-9)}-${randomBytes(8).toString('hex')}`;
}

export class WebhookBacklog {
  readonly #pendingDir: string;
  readonly #deadDir: string;
  readonly #limits: BacklogLimits;
  readonly #now: () => Date;
  /** Entries on disk (and accepts under way): id → body bytes and when they may be delivered. */
  readonly #index = new Map<string, { bytes: number; notBefore: Date | undefined }>();
  #bytes = 0;
  /** Accepts that have reserved room but are still writing. */
  #reservedEvents = 0;
  #reservedBytes = 0;

  private constructor(dir: string, limits: BacklogLimits, now: () => Date) {
    this.#pendingDir = join(dir, 'pending');
    this.#deadDir = join(dir, 'dead');
    this.#limits = limits;
    this.#now = now;
  }

  /**
   * Opens (creating) the backlog: removes what interrupted writes left, drops a pending entry
   * already dead-lettered (a crash between the two steps of deadLetter), sets aside entries that
   * cannot be read, and indexes the rest.
   */
  static async open(options: OpenBacklogOptions): Promise<WebhookBacklog> {
    const backlog = new WebhookBacklog(options.dir, options.limits, options.now ?? (() => new Date()));
    await ensureDir(options.dir);
    await ensureDir(backlog.#pendingDir);
    await ensureDir(backlog.#deadDir);
    for (const dir of [backlog.#pendingDir, backlog.#deadDir]) {
      for (const name of await readdir(dir)) if (TEMP_FILE.test(name)) await rm(join(dir, name), { force: true });
    }
    const dead = new Set((await readdir(backlog.#deadDir)).map((n) => ENTRY_FILE.exec(n)?.[1]).filter((id): id is string => id !== undefined));
    const names = (await readdir(backlog.#pendingDir)).sort();
    for (const name of names) {
      const id = ENTRY_FILE.exec(name)?.[1];
      if (!id) continue;
      if (dead.has(id)) {
        await rm(join(backlog.#pendingDir, name), { force: true });
        continue;
      }
      let entry: BacklogEntry | undefined;
      try {
        entry = await backlog.read(id);
      } catch (err) {
        const reason = `unreadable backlog entry: ${describeError(err)}`;
        await backlog.setAsideUnreadable(id, reason);
        options.onUnreadable?.(id, reason);
        continue;
      }
      if (!entry) continue;
      const bytes = Buffer.byteLength(entry.body, 'utf8');
      backlog.#index.set(id, { bytes, notBefore: entry.notBefore ? new Date(entry.notBefore) : undefined });
      backlog.#bytes += bytes;
    }
    return backlog;
  }

  get pendingDir(): string {
    return this.#pendingDir;
  }

  get deadDir(): string {
    return this.#deadDir;
  }

  /** Events and body bytes held (accepted and not yet done or dead-lettered), accepts under way included. */
  usage(): { events: number; bytes: number } {
    return { events: this.#index.size + this.#reservedEvents, bytes: this.#bytes + this.#reservedBytes };
  }

  /** Pending entries in accept order. */
  pending(): PendingEntry[] {
    return [...this.#index.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, e]) => ({ id, notBefore: e.notBefore }));
  }

  /**
   * Records an event durably (file and directory fsync'd) and returns its id; or refuses, writing
   * nothing, when the backlog has no room for it. A failed write leaves nothing behind and throws.
   */
  async accept(body: string, peer?: string): Promise<AcceptOutcome> {
    const bytes = Buffer.byteLength(body, 'utf8');
    const { events, bytes: held } = this.usage();
    if (events + 1 > this.#limits.maxEvents) return { accepted: false, reason: `the backlog holds ${events} events, its limit (SENTINEL_WEBHOOK_BACKLOG_MAX_EVENTS)` };
    if (held + bytes > this.#limits.maxBytes) {
      return { accepted: false, reason: `the backlog holds ${held} bytes; ${bytes} more would pass its limit of ${this.#limits.maxBytes} (SENTINEL_WEBHOOK_BACKLOG_MAX_BYTES)` };
    }
    // Reserve the room now: accepts that run at once cannot pass the limits together.
    this.#reservedEvents++;
    this.#reservedBytes += bytes;
    try {
      const now = this.#now();
      for (;;) {
        const entry: BacklogEntry = { id: newId(now), acceptedAt: now.toISOString(), ...(peer ? { peer: peer.slice(0, 64) } : {}), receiveCount: 0, body };
        if (await createFileExclusive(this.#path(entry.id), `${JSON.stringify(entry)}\n`)) {
          this.#index.set(entry.id, { bytes, notBefore: undefined });
          this.#bytes += bytes;
          return { accepted: true, id: entry.id };
        }
        // 64 random bits collided with an entry of the same millisecond: draw again.
      }
    } finally {
      this.#reservedEvents--;
      this.#reservedBytes -= bytes;
    }
  }

  /** The entry, or undefined when it is gone. Throws CorruptState when its file cannot be read back. */
  async read(id: string): Promise<BacklogEntry | undefined> {
    const path = this.#path(id);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    const entry = parseStored(backlogEntrySchema, text, path);
    if (entry.id !== id) throw corruptStateError(path, `holds entry ${entry.id}`);
    return entry;
  }

  /** Replaces an entry atomically (fsync'd): its receive count, backoff and last reason. */
  async update(entry: BacklogEntry): Promise<void> {
    validateInput(backlogEntrySchema, entry, 'backlog entry');
    await writeFileAtomic(this.#path(entry.id), `${JSON.stringify(entry)}\n`);
    const indexed = this.#index.get(entry.id);
    if (indexed) indexed.notBefore = entry.notBefore ? new Date(entry.notBefore) : undefined;
  }

  /** Deletes a handled entry (the directory fsync'd), freeing its room. */
  async remove(id: string): Promise<void> {
    await rm(this.#path(id), { force: true });
    await syncDir(this.#pendingDir);
    this.#forget(id);
  }

  /** Moves an entry to the dead-letter directory with the reason (written and fsync'd first), then deletes it. */
  async deadLetter(entry: BacklogEntry, reason: string): Promise<void> {
    const dead: DeadBacklogEntry = { deadAt: this.#now().toISOString(), reason, entry };
    await writeFileAtomic(join(this.#deadDir, `${entry.id}.json`), `${JSON.stringify(dead)}\n`);
    await this.remove(entry.id);
  }

  /** Sets aside an entry that cannot be read: its raw text, with the reason, in the dead-letter directory. */
  async setAsideUnreadable(id: string, reason: string): Promise<void> {
    let raw: string;
    try {
      raw = await readFile(this.#path(id), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) {
        this.#forget(id);
        return;
      }
      throw err;
    }
    const dead: DeadBacklogEntry = { deadAt: this.#now().toISOString(), reason, raw };
    await writeFileAtomic(join(this.#deadDir, `${id}.json`), `${JSON.stringify(dead)}\n`);
    await this.remove(id);
  }

  #forget(id: string): void {
    const indexed = this.#index.get(id);
    if (!indexed) return;
    this.#index.delete(id);
    this.#bytes -= indexed.bytes;
  }

  #path(id: string): string {
    if (!ENTRY_ID.test(id)) throw new ValidationError('not a backlog entry id', { code: 'InvalidInput' });
    return join(this.#pendingDir, `${id}.json`);
  }
}
