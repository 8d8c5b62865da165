/**
 * Shared plumbing of the bot's state stores: atomic file writes, exclusive creates, and reading
 * stored JSON back through zod so that a corrupt file or object becomes an error naming where it
 * is (never a crash, never a silently wrong value).
 */
import { randomBytes } from 'node:crypto';
import { appendFile, link, mkdir, open, readdir, rename, rm, truncate } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { z } from 'zod';
import { SentinelError, ValidationError } from '../errors.js';

/** Stored state that cannot be read back: bad JSON, or JSON that fails its schema. Code `CorruptState`. */
export function corruptStateError(location: string, reason: string, cause?: unknown): SentinelError {
  return new SentinelError(`Corrupt state at ${location}: ${reason}`, {
    code: 'CorruptState',
    details: { location },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Zod issues as paths and messages only: never the values (a task token could be among them). */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}

/** Validates a caller's input; ValidationError (paths and messages only) when it does not fit. */
export function validateInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ValidationError(`Invalid ${what}: ${describeIssues(parsed.error)}`, { code: 'InvalidInput' });
  return parsed.data;
}

/** Parses stored JSON text with a schema; throws corruptStateError naming `location` when it does not fit. */
export function parseStored<S extends z.ZodType>(schema: S, text: string, location: string): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw corruptStateError(location, `not JSON (${(err as Error).message})`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw corruptStateError(location, `does not match its schema (${describeIssues(parsed.error)})`);
  return parsed.data;
}

export interface NdjsonLines<T> {
  values: T[];
  /** True when the text ended in a line without its newline (a write cut short): that line is ignored. */
  tornTail: boolean;
}

/**
 * Parses NDJSON. A bad complete line is an error naming `location:line`. A last line without its
 * newline is a torn append (the process died mid-write): it is ignored, and reported as tornTail
 * so the writer can start its next line on a fresh one.
 */
export function parseNdjson<S extends z.ZodType>(schema: S, text: string, location: string): NdjsonLines<z.output<S>> {
  const lines = text.split('\n');
  const tail = lines.pop() ?? '';
  const values: z.output<S>[] = [];
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    values.push(parseStored(schema, line, `${location}:${index + 1}`));
  });
  return { values, tornTail: tail.length > 0 };
}

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

async function writeTemp(path: string, data: string, fsync: boolean): Promise<string> {
  const tmp = tempPathFor(path);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(data, 'utf8');
    if (fsync) await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  return tmp;
}

async function fsyncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
}

/**
 * Per directory with an fsync under way: the callers that arrived since it started (they wait for
 * the next). Process-wide, as the directories are: every store's writes share it.
 */
const dirSyncs = new Map<string, { queued: (() => void)[] }>();

/**
 * Makes the renames done in `dir` so far durable, group-committed: one fsync covers every entry
 * changed before it starts, so a caller arriving while one is under way waits for the next one
 * (which starts after its rename), shared with everyone else arriving meanwhile. A store writing
 * many files of one directory at once (a storm's new incidents) pays one directory fsync per
 * gathering, not per file. Never rejects (fsyncDir does not).
 */
export function syncDir(dir: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const under = dirSyncs.get(dir);
    if (under) {
      under.queued.push(resolve);
      return;
    }
    const state = { queued: [] as (() => void)[] };
    dirSyncs.set(dir, state);
    void (async () => {
      for (let batch = [resolve]; batch.length > 0; ) {
        await fsyncDir(dir);
        for (const done of batch) done();
        batch = state.queued;
        state.queued = [];
      }
      dirSyncs.delete(dir);
    })();
  });
}

export interface WriteOptions {
  /** fsync the file (and its directory) before returning; default true. */
  fsync?: boolean;
}

/** Replaces `path` atomically: a reader sees the old content or the new, never a mix. Mode 0600. */
export async function writeFileAtomic(path: string, data: string, options: WriteOptions = {}): Promise<void> {
  const fsync = options.fsync ?? true;
  const tmp = await writeTemp(path, data, fsync);
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  if (fsync) await syncDir(dirname(path));
}

/**
 * Creates `path` with the whole of `data` only if it does not exist yet (temp file + link(2), which
 * fails with EEXIST atomically, across processes). Returns false when `path` already existed.
 * A reader never sees a partly written file. Mode 0600.
 */
export async function createFileExclusive(path: string, data: string, options: WriteOptions = {}): Promise<boolean> {
  const fsync = options.fsync ?? true;
  const tmp = await writeTemp(path, data, fsync);
  try {
    await link(tmp, path);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return false;
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
  if (fsync) await syncDir(dirname(path));
  return true;
}

/**
 * Before appending to an NDJSON file whose last line was cut short (a crash mid-append): moves
 * the fragment to `<path>.torn` (kept, for whoever investigates) and truncates the file after
 * its last complete line, so the next line starts clean and every line stays parseable.
 */
export async function repairTornTail(path: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  let keep: number;
  let fragment: Buffer;
  try {
    const { size } = await handle.stat();
    if (size === 0) return;
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, size - 1);
    if (last[0] === 0x0a) return;
    // Scan back from the end, a chunk at a time, for the last complete line's newline.
    const chunk = Buffer.alloc(64 * 1024);
    keep = 0;
    for (let end = size; end > 0; ) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await handle.read(chunk, 0, end - start, start);
      const at = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (at >= 0) {
        keep = start + at + 1;
        break;
      }
      end = start;
    }
    fragment = Buffer.alloc(size - keep);
    await handle.read(fragment, 0, fragment.length, keep);
  } finally {
    await handle.close();
  }
  await appendFile(`${path}.torn`, Buffer.concat([fragment, Buffer.from('\n')]), { mode: 0o600 });
  await truncate(path, keep);
}

/** The names in a directory; none when it does not exist (yet). */
export async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
}

export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/** Minimal logger the stores warn through (a winston Logger fits). */
export interface StoreLogger {
  warn(message: string, meta?: Record<string, unknown>): unknown;
}

/** A random, URL-safe id of `bytes` random bytes (base64url: 4 characters per 3 bytes). */
export function randomId(bytes = 15): string {
  return randomBytes(bytes).toString('base64url');
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Jittered backoff for optimistic-concurrency retries: 5..(20 × attempt) ms, capped at 250 ms. */
export function backoffMs(attempt: number): number {
  return 5 + Math.floor(Math.random() * Math.min(250, 20 * attempt));
}
