/**
 * The outbox on disk: one JSON file per slot under `<data dir>/outbox/<key>.json`, replaced
 * atomically (temp file, fsync, rename, fsync of the directory), so a slot a handler recorded is
 * there after a crash, whole. Writes of one slot are serialised and each writes the slot as it is
 * when its turn comes (so a burst of changes ends on the latest). A file that cannot be read back
 * is moved aside (`.corrupt`) with the reason logged, never silently dropped.
 */
import { readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { corruptStateError, ensureDir, isErrno, parseStored, writeFileAtomic, type StoreLogger } from '../../stores/storeIo.js';
import { KeyedMutex } from '../../stores/keyedMutex.js';
import { SLOT_KEY, slotSchema, type Slot } from '../../handlers/ports/outboxSlot.js';

export interface OutboxFilesOptions {
  dir: string;
  /** fsync each write (default true: a recorded slot must survive a crash). */
  fsync?: boolean;
}

export class OutboxFiles {
  /** The directory exists (made once, not before every write). */
  #dirMade = false;
  readonly #dir: string;
  readonly #fsync: boolean;
  readonly #mutex = new KeyedMutex();

  constructor(options: OutboxFilesOptions) {
    this.#dir = options.dir;
    this.#fsync = options.fsync ?? true;
  }

  get dir(): string {
    return this.#dir;
  }

  pathOf(key: string): string {
    if (!SLOT_KEY.test(key)) throw corruptStateError(this.#dir, `bad outbox key ${JSON.stringify(key.slice(0, 200))}`);
    return join(this.#dir, `${key}.json`);
  }

  /** Every slot on disk. Unreadable files are moved to `<file>.corrupt` and logged. */
  async loadAll(logger: StoreLogger): Promise<Slot[]> {
    await ensureDir(this.#dir);
    const names = (await readdir(this.#dir)).filter((n) => n.endsWith('.json') && SLOT_KEY.test(n.slice(0, -5)));
    const slots: Slot[] = [];
    for (const name of names.sort()) {
      const path = join(this.#dir, name);
      try {
        const slot = parseStored(slotSchema, await readFile(path, 'utf8'), path);
        if (`${slot.key}.json` !== name) throw corruptStateError(path, `holds slot ${slot.key}`);
        slots.push(slot);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue;
        logger.warn('an outbox file cannot be read; moved aside, its message is not sent', { path, reason: (err as Error).message });
        await rename(path, `${path}.corrupt`).catch(() => undefined);
      }
    }
    return slots;
  }

  /** Writes the slot as `current()` returns it when this write's turn comes. */
  async write(key: string, current: () => Slot): Promise<void> {
    const path = this.pathOf(key);
    await this.#mutex.run(key, async () => {
      if (!this.#dirMade) {
        await ensureDir(this.#dir);
        this.#dirMade = true;
      }
      try {
        await writeFileAtomic(path, `${JSON.stringify(current())}\n`, { fsync: this.#fsync });
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
        // The directory went away under the bot: made again, and the write tried once more.
        await ensureDir(this.#dir);
        await writeFileAtomic(path, `${JSON.stringify(current())}\n`, { fsync: this.#fsync });
      }
    });
  }

  async remove(key: string): Promise<void> {
    const path = this.pathOf(key);
    await this.#mutex.run(key, () => rm(path, { force: true }));
  }
}
