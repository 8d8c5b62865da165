/**
 * The sliding window of automatic containment: every block or isolation a playbook step ran by
 * itself (not a person's decision) in the last SENTINEL_AUTO_CONTAINMENT_WINDOW_MINUTES, so the
 * per-window cap holds across every bot replica. One JSON object in the evidence bucket, next to
 * the block records (`containment/automatic-window.json`):
 *
 * - reserve: GetObject (entries + ETag), drop entries older than the window, refuse when `cap`
 *   remain, else append this step and PutObject with `If-Match: <ETag>` (`If-None-Match: *` for
 *   the first); a 412/409 means another replica wrote first: read again (bounded, jittered).
 * - After its write, a reservation reads the object back and only counts when its entry is
 *   there: a second guard for backends whose conditional writes are not atomic (moto 5.2.5 checks
 *   the precondition without a lock; see s3ApprovalStore.ts). Inside one instance, calls run one
 *   at a time.
 * - A step is one entry, by a key made from its execution, action and input: a redelivered or
 *   retried step reuses its reservation instead of counting twice.
 * - release takes a reservation back (the step changed nothing: skipped or failed).
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { AwsError, ConflictError, describeError } from '../errors.js';
import { stableJson } from '../util/stableJson.js';
import { KeyedMutex } from './keyedMutex.js';
import { backoffMs, delay, parseStored, randomId } from './storeIo.js';

export const CONTAINMENT_WINDOW_KEY = 'containment/automatic-window.json';

const isoTime = z.iso.datetime({ offset: true });

const entrySchema = z.object({
  id: z.string().min(1).max(64),
  at: isoTime,
  action: z.string().min(1).max(64),
  incidentId: z.string().min(1).max(128),
  executionName: z.string().max(80).optional(),
});

const windowSchema = z.object({
  version: z.literal(1),
  /** Random id of the write that produced this version (read-back check). */
  writeId: z.string().min(1).max(64),
  updatedAt: isoTime,
  entries: z.array(entrySchema).max(100_000),
});

export type ContainmentEntry = z.output<typeof entrySchema>;

export interface ReserveInput {
  action: string;
  incidentId: string;
  executionName?: string;
  /** The step's input: with the execution and action, what makes a retried step the same step. */
  input: unknown;
  now: Date;
  cap: number;
  windowMinutes: number;
}

export type ReserveOutcome =
  /** Counted (or already counted for this step). */
  | { ok: true; id: string; count: number; reused: boolean }
  /** The cap is reached: `count` automatic actions in the window; the oldest leaves it at `nextSlotAt`. */
  | { ok: false; count: number; nextSlotAt: string | null };

interface Stored {
  entries: ContainmentEntry[];
  etag: string;
  writeId: string;
}

function s3Code(err: unknown): 'precondition' | 'missing' | undefined {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  const name = e?.name ?? e?.Code;
  const status = e?.$metadata?.httpStatusCode;
  if (name === 'PreconditionFailed' || name === 'ConditionalRequestConflict' || status === 412 || status === 409) return 'precondition';
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return 'missing';
  return undefined;
}

/** The id of one step's reservation: its execution, action and input (random when the execution is unknown). */
export function reservationId(input: Pick<ReserveInput, 'action' | 'executionName' | 'input'>): string {
  if (!input.executionName) return randomId();
  return createHash('sha256').update(`${input.executionName}\n${input.action}\n${stableJson(input.input)}`).digest('base64url').slice(0, 24);
}

export class ContainmentWindow {
  readonly #s3: S3Client;
  readonly #bucket: string;
  readonly #mutex = new KeyedMutex();
  readonly #maxAttempts: number;

  constructor(options: { s3: S3Client; bucket: string; maxAttempts?: number }) {
    this.#s3 = options.s3;
    this.#bucket = options.bucket;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 30);
  }

  get location(): string {
    return `s3://${this.#bucket}/${CONTAINMENT_WINDOW_KEY}`;
  }

  async #read(): Promise<Stored | undefined> {
    let text: string;
    let etag: string | undefined;
    try {
      const out = await this.#s3.send(new GetObjectCommand({ Bucket: this.#bucket, Key: CONTAINMENT_WINDOW_KEY }));
      etag = out.ETag;
      text = (await out.Body?.transformToString('utf8')) ?? '';
    } catch (err) {
      if (s3Code(err) === 'missing') return undefined;
      throw new AwsError(`S3 GetObject of ${this.location} failed: ${describeError(err)}`, { cause: err });
    }
    const doc = parseStored(windowSchema, text, this.location);
    if (!etag) throw new AwsError(`S3 GetObject of ${this.location} returned no ETag`);
    return { entries: doc.entries, etag, writeId: doc.writeId };
  }

  /** Writes the entries if nobody wrote since `etag` was read; false when someone did. */
  async #write(entries: ContainmentEntry[], etag: string | undefined, now: Date): Promise<string | false> {
    const writeId = randomId();
    try {
      await this.#s3.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: CONTAINMENT_WINDOW_KEY,
          Body: `${JSON.stringify({ version: 1, writeId, updatedAt: now.toISOString(), entries })}\n`,
          ContentType: 'application/json',
          ...(etag ? { IfMatch: etag } : { IfNoneMatch: '*' }),
        }),
      );
      return writeId;
    } catch (err) {
      if (s3Code(err) === 'precondition' || (etag && s3Code(err) === 'missing')) return false;
      throw new AwsError(`S3 PutObject of ${this.location} failed: ${describeError(err)}`, { cause: err });
    }
  }

  /** Runs a read-change-write until it sticks; `change` returns the new entries, or a result that needs no write. */
  async #update<T>(now: Date, change: (entries: ContainmentEntry[]) => { write: ContainmentEntry[]; result: T; check?: (entries: ContainmentEntry[]) => boolean } | { result: T }): Promise<T> {
    return this.#mutex.run('window', async () => {
      for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
        const stored = await this.#read();
        const step = change(stored?.entries ?? []);
        if (!('write' in step)) return step.result;
        const writeId = await this.#write(step.write, stored?.etag, now);
        if (writeId) {
          const after = await this.#read();
          const mine = after?.writeId === writeId || (after !== undefined && (step.check?.(after.entries) ?? false));
          if (mine) return step.result;
        }
        await delay(backoffMs(attempt));
      }
      throw new ConflictError(`the automatic containment window ${this.location} kept changing during ${this.#maxAttempts} attempts`, { code: 'ContainmentWindowConflict' });
    });
  }

  /** Counts one automatic containment step, unless `cap` steps are in the window already. */
  async reserve(input: ReserveInput): Promise<ReserveOutcome> {
    const id = reservationId(input);
    const since = input.now.getTime() - input.windowMinutes * 60_000;
    return this.#update<ReserveOutcome>(input.now, (all) => {
      const live = all.filter((e) => Date.parse(e.at) > since);
      if (live.some((e) => e.id === id)) return { result: { ok: true, id, count: live.length, reused: true } };
      if (live.length >= input.cap) {
        const oldest = live.map((e) => Date.parse(e.at)).sort((a, b) => a - b)[0];
        return { result: { ok: false, count: live.length, nextSlotAt: oldest === undefined ? null : new Date(oldest + input.windowMinutes * 60_000).toISOString() } };
      }
      const entry: ContainmentEntry = {
        id,
        at: input.now.toISOString(),
        action: input.action,
        incidentId: input.incidentId,
        ...(input.executionName ? { executionName: input.executionName } : {}),
      };
      return { write: [...live, entry], result: { ok: true, id, count: live.length + 1, reused: false }, check: (entries) => entries.some((e) => e.id === id) };
    });
  }

  /** Takes a reservation back (the step changed nothing). Missing already: nothing to do. */
  async release(id: string, now: Date): Promise<void> {
    await this.#update<void>(now, (all) => {
      if (!all.some((e) => e.id === id)) return { result: undefined };
      return { write: all.filter((e) => e.id !== id), result: undefined, check: (entries) => !entries.some((e) => e.id === id) };
    });
  }

  /** The automatic containment steps in the window now. */
  async list(now: Date, windowMinutes: number): Promise<ContainmentEntry[]> {
    const since = now.getTime() - windowMinutes * 60_000;
    return ((await this.#read())?.entries ?? []).filter((e) => Date.parse(e.at) > since);
  }
}
