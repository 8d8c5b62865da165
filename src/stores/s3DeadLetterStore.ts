/**
 * Dead-letter records in S3 (SENTINEL_APPROVAL_STORE=s3: replicas share them, and `sentinel dlq`
 * reads them from anywhere): one JSON object per message at `<prefix><messageId>.json` (default
 * prefix `sentinel/dead-letters/`) in the evidence bucket. A record is replaced by a plain
 * PutObject: the last failed attempt wins, which is what a record says. prune() lists the prefix
 * and deletes what was last written before the retention; record() runs it in the background at
 * most once an hour per replica.
 */
import { DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { listS3Objects } from '../aws/listS3Objects.js';
import { AwsError, describeError } from '../errors.js';
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
import { type StoreLogger, corruptStateError, parseStored, validateInput } from './storeIo.js';

export interface S3DeadLetterStoreOptions {
  s3: S3Client;
  bucket: string;
  /** Key prefix; default `sentinel/dead-letters/`. */
  prefix?: string;
  now?: () => Date;
  logger?: StoreLogger;
  /** Exact secret values masked in reasons (besides tokens and opaque strings, always masked). */
  secrets?: readonly string[];
}

function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

export class S3DeadLetterStore implements DeadLetterStore {
  readonly #s3: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #now: () => Date;
  readonly #logger: StoreLogger | undefined;
  readonly #redact: (s: string) => string;
  #lastPrune = 0;

  constructor(options: S3DeadLetterStoreOptions) {
    this.#s3 = options.s3;
    this.#bucket = options.bucket;
    const prefix = options.prefix ?? 'sentinel/dead-letters/';
    this.#prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.#now = options.now ?? (() => new Date());
    this.#logger = options.logger;
    this.#redact = createStringRedactor(options.secrets ?? []);
  }

  get location(): string {
    return `s3://${this.#bucket}/${this.#prefix}`;
  }

  #key(messageId: string): string {
    return `${this.#prefix}${messageId}.json`;
  }

  #awsError(what: string, location: string, err: unknown): AwsError {
    return new AwsError(`S3 ${what} of ${location} failed: ${describeError(err)}`, { cause: err, details: { location } });
  }

  async record(record: DeadLetterRecord): Promise<void> {
    const checked = validateInput(deadLetterRecordSchema, { ...record, reason: typeof record.reason === 'string' ? safeReason(record.reason, this.#redact) : record.reason }, 'dead-letter record');
    const key = this.#key(checked.messageId);
    try {
      await this.#s3.send(new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: `${JSON.stringify(checked)}\n`, ContentType: 'application/json' }));
    } catch (err) {
      throw this.#awsError('PutObject', `s3://${this.#bucket}/${key}`, err);
    }
    this.#pruneNowAndThen();
  }

  async forget(messageId: string): Promise<void> {
    if (!DEAD_LETTER_ID_PATTERN.test(messageId)) return;
    const key = this.#key(messageId);
    try {
      await this.#s3.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }));
    } catch (err) {
      if (!isMissing(err)) throw this.#awsError('DeleteObject', `s3://${this.#bucket}/${key}`, err);
    }
  }

  async get(messageId: string): Promise<DeadLetterRecord | undefined> {
    if (!DEAD_LETTER_ID_PATTERN.test(messageId)) return undefined;
    const key = this.#key(messageId);
    const location = `s3://${this.#bucket}/${key}`;
    let text: string;
    try {
      const out = await this.#s3.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      text = (await out.Body?.transformToString('utf8')) ?? '';
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw this.#awsError('GetObject', location, err);
    }
    const record = parseStored(deadLetterRecordSchema, text, location);
    if (record.messageId !== messageId) throw corruptStateError(location, `holds message ${record.messageId}, not ${messageId}`);
    return isExpired(record, this.#now()) ? undefined : record;
  }

  /** Every record object under the prefix: its message id and when it was last written. */
  async #objects(): Promise<{ messageId: string; key: string; lastModified: Date | undefined }[]> {
    const found: { messageId: string; key: string; lastModified: Date | undefined }[] = [];
    try {
      for await (const o of listS3Objects(this.#s3, { bucket: this.#bucket, prefix: this.#prefix })) {
        const rest = o.Key?.slice(this.#prefix.length);
        if (!o.Key || !rest?.endsWith('.json')) continue;
        const messageId = rest.slice(0, -5);
        if (DEAD_LETTER_ID_PATTERN.test(messageId)) found.push({ messageId, key: o.Key, lastModified: o.LastModified });
      }
    } catch (err) {
      throw this.#awsError('ListObjectsV2', this.location, err);
    }
    return found;
  }

  async list(): Promise<DeadLetterRecord[]> {
    const ids = (await this.#objects()).map((o) => o.messageId);
    const found: DeadLetterRecord[] = [];
    // Eight reads at a time (p-limit).
    await pLimit(8).map(ids, async (id) => {
      try {
        const record = await this.get(id);
        if (record) found.push(record);
      } catch (err) {
        this.#logger?.warn('dead-letter store: skipping a record that cannot be read', { location: `s3://${this.#bucket}/${this.#key(id)}`, error: describeError(err) });
      }
    });
    return found.sort((a, b) => a.at.localeCompare(b.at));
  }

  async prune(): Promise<number> {
    const cutoff = this.#now().getTime() - DEAD_LETTER_RETENTION_MS;
    const old = (await this.#objects()).filter((o) => o.lastModified && o.lastModified.getTime() < cutoff).map((o) => o.key);
    for (let i = 0; i < old.length; i += 1000) {
      const batch = old.slice(i, i + 1000);
      try {
        const out = await this.#s3.send(new DeleteObjectsCommand({ Bucket: this.#bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
        if (out.Errors?.length) throw new Error(`${out.Errors.length} of ${batch.length} deletes failed (first: ${out.Errors[0]?.Code ?? 'unknown'})`);
      } catch (err) {
        throw this.#awsError('DeleteObjects', this.location, err);
      }
    }
    return old.length;
  }

  #pruneNowAndThen(): void {
    const now = this.#now().getTime();
    if (now - this.#lastPrune < PRUNE_INTERVAL_MS) return;
    this.#lastPrune = now;
    void this.prune().catch((err: unknown) => this.#logger?.warn('dead-letter store: prune failed', { location: this.location, error: describeError(err) }));
  }
}
