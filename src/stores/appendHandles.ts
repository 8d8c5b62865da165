/**
 * Files appended to often, kept open between appends: a storm's repeats append to a few hot
 * incidents' event files many times a second, and an open, append and close for each (what
 * `fs.appendFile` does) tripled the file operations of the intake. A file stays open while it is
 * used and is closed once it has been idle for `idleMs`, when more than `maxOpen` are open (the
 * least recently used first), or by `closeAll()`. Appends to one path run one after another;
 * an append that fails closes its file (the next one opens it again).
 *
 * The file is opened with `O_APPEND` (flag 'a'), so each write lands at the end of what is there,
 * even if the file was appended to meanwhile through another descriptor. Nothing is fsynced: the
 * same durability as `fs.appendFile`.
 */
import { open, type FileHandle } from 'node:fs/promises';

export interface AppendHandlesOptions {
  /** Files kept open at most; default 64. */
  maxOpen?: number;
  /** How long an unused file stays open; default 2000 ms. */
  idleMs?: number;
  /** Mode of a file created by an append; default 0o600. */
  mode?: number;
}

interface Entry {
  handle: Promise<FileHandle>;
  /** The last append (or close) of this path: the next one waits for it. */
  tail: Promise<void>;
  usedAt: number;
  busy: number;
  /** Why an append failed: the appends queued behind it fail too (the file was closed). */
  failed?: unknown;
}

export class AppendHandles {
  readonly #maxOpen: number;
  readonly #idleMs: number;
  readonly #mode: number;
  /** Open files by path, least recently used first. */
  readonly #open = new Map<string, Entry>();
  #sweep: NodeJS.Timeout | undefined;

  constructor(options: AppendHandlesOptions = {}) {
    this.#maxOpen = Math.max(1, options.maxOpen ?? 64);
    this.#idleMs = Math.max(1, options.idleMs ?? 2000);
    this.#mode = options.mode ?? 0o600;
  }

  /** Files open now. */
  get openCount(): number {
    return this.#open.size;
  }

  /** Appends `text` to the file at `path` (created when missing); resolves once written. */
  append(path: string, text: string): Promise<void> {
    let entry = this.#open.get(path);
    if (entry) {
      this.#open.delete(path);
    } else {
      const handle = open(path, 'a', this.#mode);
      handle.catch(() => undefined);
      entry = { handle, tail: Promise.resolve(), usedAt: 0, busy: 0 };
    }
    this.#open.set(path, entry);
    const e = entry;
    e.busy++;
    const run = e.tail.then(async () => {
      try {
        if (e.failed !== undefined) throw new Error(`an earlier append to ${path} failed`, { cause: e.failed });
        await writeAll(await e.handle, Buffer.from(text, 'utf8'));
      } catch (err) {
        // A file that failed is not trusted for the next append: it is closed, and opened again by the next one.
        if (e.failed === undefined) {
          e.failed = err;
          void e.handle.then((h) => h.close()).catch(() => undefined);
        }
        if (this.#open.get(path) === e) this.#open.delete(path);
        throw err;
      } finally {
        e.busy--;
        e.usedAt = Date.now();
      }
    });
    e.tail = run.catch(() => undefined);
    this.#evict();
    this.#armSweep();
    return run;
  }

  /** Closes every file once its appends are done. */
  async closeAll(): Promise<void> {
    const entries = [...this.#open];
    this.#open.clear();
    if (this.#sweep) clearInterval(this.#sweep);
    this.#sweep = undefined;
    await Promise.all(entries.map(([, e]) => closeEntry(e)));
  }

  /** Beyond `maxOpen`: closes the least recently used files that no append is waiting on. */
  #evict(): void {
    if (this.#open.size <= this.#maxOpen) return;
    for (const [path, e] of this.#open) {
      if (this.#open.size <= this.#maxOpen) break;
      if (e.busy > 0) continue;
      this.#open.delete(path);
      void closeEntry(e);
    }
  }

  #armSweep(): void {
    if (this.#sweep) return;
    this.#sweep = setInterval(() => {
      const now = Date.now();
      for (const [path, e] of this.#open) {
        if (e.busy === 0 && now - e.usedAt >= this.#idleMs) {
          this.#open.delete(path);
          void closeEntry(e);
        }
      }
      if (this.#open.size === 0 && this.#sweep) {
        clearInterval(this.#sweep);
        this.#sweep = undefined;
      }
    }, this.#idleMs);
    this.#sweep.unref();
  }
}

async function closeEntry(e: Entry): Promise<void> {
  await e.tail;
  if (e.failed !== undefined) return;
  try {
    await (await e.handle).close();
  } catch {
    // Never opened, or already closed after a failed append.
  }
}

/** Writes the whole buffer: a write may take only part of it. */
async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  for (let off = 0; off < data.length; ) {
    const { bytesWritten } = await handle.write(data, off, data.length - off);
    off += bytesWritten;
  }
}
