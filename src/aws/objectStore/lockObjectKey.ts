/**
 * Per-key locks for the local object store's writes (PutObject's condition check and commit,
 * DeleteObject), held for a few file system calls, never while a body streams.
 *
 * - In one process: a KeyedMutex, so calls on one key queue in order.
 * - Across processes: an O_EXCL lock file `<locks>/<hh>/<sha256(bucket, key)>`, created whole
 *   (temp file + link(2), which fails with EEXIST atomically) with the holder's host, pid, the
 *   process's start time (from /proc, so a reused pid is not mistaken for the holder) and a
 *   random token. A waiter retries with a short backoff.
 * - A lock whose holder is gone (same host, pid dead or started at another time) is taken over:
 *   the taker first creates `<lock>.steal` exclusively, re-reads the lock, removes it only if it
 *   is still the dead holder's, then removes `.steal`. So two takers never remove a live lock.
 *   The one window left: a taker killed while holding `.steal` leaves it behind; the next taker
 *   removes it when its holder is gone too.
 * - A lock held by another host (a data directory on a shared volume) is never taken over: the
 *   waiter gives up after `waitMs` with a 503 SlowDown naming the lock file.
 * - Release removes the lock file only if it still holds this holder's token.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { KeyedMutex } from '../../stores/keyedMutex.js';
import { createFileExclusive, delay, isErrno } from '../../stores/storeIo.js';
import { makeS3Error } from './makeS3Error.js';

interface Holder {
  host: string;
  pid: number;
  /** The process's start time in clock ticks since boot (/proc/<pid>/stat field 22); '' where /proc is absent. */
  started: string;
  token: string;
}

/** A process's start time, from /proc (Linux); '' when unknown. */
function startTimeOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses): state is field 3, starttime field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

const HOST = hostname();
const SELF_STARTED = startTimeOf(process.pid);

function holderText(h: Holder): string {
  return `${JSON.stringify(h)}\n`;
}

function parseHolder(text: string): Holder | undefined {
  try {
    const v = JSON.parse(text) as Partial<Holder>;
    if (typeof v.host === 'string' && Number.isInteger(v.pid) && typeof v.started === 'string' && typeof v.token === 'string') return v as Holder;
  } catch {
    // A lock file is written whole (temp + link), so unreadable content is damage: treated as no holder.
  }
  return undefined;
}

/** Whether the holder may still hold the lock. Another host's holder always may (its pids mean nothing here). */
function mayBeAlive(h: Holder): boolean {
  if (h.host !== HOST) return true;
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if (!isErrno(err, 'EPERM')) return false;
  }
  const now = startTimeOf(h.pid);
  return now === '' || h.started === '' || now === h.started;
}

async function readHolder(path: string): Promise<{ text: string; holder: Holder | undefined } | undefined> {
  try {
    const text = await readFile(path, 'utf8');
    return { text, holder: parseHolder(text) };
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

export interface ObjectKeyLocksOptions {
  /** Directory of the lock files. */
  dir: string;
  /** How long to wait for a lock held by a live holder before failing with SlowDown (default 30 s). */
  waitMs?: number;
}

export class ObjectKeyLocks {
  readonly #dir: string;
  readonly #waitMs: number;
  readonly #mutex = new KeyedMutex();

  constructor(options: ObjectKeyLocksOptions) {
    this.#dir = options.dir;
    this.#waitMs = options.waitMs ?? 30_000;
  }

  /** Runs `fn` holding the lock of `bucket`/`key` in this process and against other processes. */
  async with<T>(bucket: string, key: string, fn: () => Promise<T>): Promise<T> {
    const id = createHash('sha256').update(bucket).update('\0').update(key).digest('hex');
    return this.#mutex.run(id, async () => {
      const release = await this.#acquire(id, `${bucket}/${key}`);
      try {
        return await fn();
      } finally {
        await release();
      }
    });
  }

  async #acquire(id: string, what: string): Promise<() => Promise<void>> {
    const dir = join(this.#dir, id.slice(0, 2));
    const path = join(dir, id);
    const me: Holder = { host: HOST, pid: process.pid, started: SELF_STARTED, token: randomBytes(12).toString('hex') };
    const mine = holderText(me);
    const deadline = Date.now() + this.#waitMs;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (let attempt = 1; ; attempt++) {
      if (await createFileExclusive(path, mine, { fsync: false })) {
        return async () => {
          const now = await readHolder(path);
          if (now?.text === mine) await rm(path, { force: true });
        };
      }
      const seen = await readHolder(path);
      if (seen && (!seen.holder || !mayBeAlive(seen.holder))) {
        await this.#takeOver(path, seen.text, mine);
        continue;
      }
      if (Date.now() > deadline) {
        const who = seen?.holder ? `process ${seen.holder.pid} on ${seen.holder.host}` : 'another process';
        throw makeS3Error('SlowDown', `the local object store could not lock ${what} within ${this.#waitMs} ms: ${who} holds ${path} (remove it only if that process is gone)`);
      }
      await delay(Math.min(50, 2 + attempt * 2));
    }
  }

  /** Removes the lock file at `path` if it still holds `deadText`, guarded by `<path>.steal`. */
  async #takeOver(path: string, deadText: string, mine: string): Promise<void> {
    const steal = `${path}.steal`;
    if (!(await createFileExclusive(steal, mine, { fsync: false }))) {
      const other = await readHolder(steal);
      if (other && (!other.holder || !mayBeAlive(other.holder))) {
        // A taker died mid-takeover; its guard goes (only when still that one).
        if ((await readHolder(steal))?.text === other.text) await rm(steal, { force: true });
      }
      await delay(2);
      return;
    }
    try {
      if ((await readHolder(path))?.text === deadText) await rm(path, { force: true });
    } finally {
      await rm(steal, { force: true });
    }
  }
}
