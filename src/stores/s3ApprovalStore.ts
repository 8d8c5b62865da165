/**
 * Approvals in S3, so several bot replicas can share them. One JSON object per approval at
 * `<prefix><approvalId>.json` (default prefix `sentinel/approvals/`).
 *
 * - create: PutObject with `If-None-Match: *` (fails with 412 when the key exists).
 * - every change: GetObject (record + ETag), apply the transition, PutObject with
 *   `If-Match: <ETag>`; a 412 PreconditionFailed or 409 ConditionalRequestConflict means another
 *   writer got there first: read again and re-apply (bounded, jittered retries).
 * - decide, after its conditional PUT succeeded, reads the object back and only reports
 *   'decided' when the stored decision carries its own decisionId. On S3 this always holds
 *   (If-Match is atomic there); it is a second line of defence against backends whose
 *   conditional writes are not atomic under concurrency: moto 5.2.5 checks If-Match and
 *   If-None-Match before writing without a lock, so two concurrent PUTs can both pass. If our
 *   decision was overwritten, we report 'already-decided' (or retry when it was overwritten by
 *   a non-deciding write). `checkConditionalWrites()` tells at start-up whether the bucket
 *   honours the headers at all.
 * - Calls for one approval are serialised inside one store instance, so a replica sends one
 *   conditional PUT at a time per approval.
 *
 * The objects hold task tokens: keep the bucket private and encrypted (SSE-S3 or SSE-KMS).
 */
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { listS3Objects } from '../aws/listS3Objects.js';
import { AwsError, ConfigError, ConflictError, describeError } from '../errors.js';
import {
  APPROVAL_ID_PATTERN,
  type ApprovalRecord,
  type ApprovalRecordInput,
  type DecideInput,
  type DecideResult,
  type Transition,
  assertWritableRecord,
  approvalRecordSchema,
  decideInputSchema,
  decideTransition,
} from './approvalStore.js';
import { KeyedMutex } from './keyedMutex.js';
import { TransitionApprovalStore, type Mutation } from './transitionApprovalStore.js';
import { type StoreLogger, backoffMs, corruptStateError, delay, parseStored, randomId, validateInput } from './storeIo.js';

export interface S3ApprovalStoreOptions {
  s3: S3Client;
  bucket: string;
  /** Key prefix; default `sentinel/approvals/`. */
  prefix?: string;
  /** The clock for markExpired and markFailed; default `() => new Date()`. */
  now?: () => Date;
  /** Where listPending reports records it cannot read. */
  logger?: StoreLogger;
  /** Conditional-write attempts before giving up with ConflictError; default 30. */
  maxAttempts?: number;
}

type S3Failure = 'precondition' | 'conflict' | 'missing' | undefined;

function s3Failure(err: unknown): S3Failure {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  const name = e?.name ?? e?.Code;
  const status = e?.$metadata?.httpStatusCode;
  if (name === 'PreconditionFailed' || status === 412) return 'precondition';
  if (name === 'ConditionalRequestConflict' || status === 409) return 'conflict';
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return 'missing';
  return undefined;
}

interface Stored {
  record: ApprovalRecord;
  etag: string;
}

export class S3ApprovalStore extends TransitionApprovalStore {
  readonly #s3: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #now: () => Date;
  readonly #logger: StoreLogger | undefined;
  readonly #maxAttempts: number;
  readonly #mutex = new KeyedMutex();

  constructor(options: S3ApprovalStoreOptions) {
    super();
    this.#s3 = options.s3;
    this.#bucket = options.bucket;
    const prefix = options.prefix ?? 'sentinel/approvals/';
    this.#prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.#now = options.now ?? (() => new Date());
    this.#logger = options.logger;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 30);
  }

  protected override now(): Date {
    return this.#now();
  }

  keyOf(approvalId: string): string {
    return `${this.#prefix}${approvalId}.json`;
  }

  locationOf(approvalId: string): string {
    return `s3://${this.#bucket}/${this.keyOf(approvalId)}`;
  }

  #awsError(what: string, location: string, err: unknown): AwsError {
    return new AwsError(`S3 ${what} of ${location} failed: ${describeError(err)}`, { cause: err, details: { location } });
  }

  async #read(approvalId: string): Promise<Stored | undefined> {
    if (!APPROVAL_ID_PATTERN.test(approvalId)) return undefined;
    const location = this.locationOf(approvalId);
    let text: string;
    let etag: string | undefined;
    try {
      const out = await this.#s3.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.keyOf(approvalId) }));
      etag = out.ETag;
      text = (await out.Body?.transformToString('utf8')) ?? '';
    } catch (err) {
      if (s3Failure(err) === 'missing') return undefined;
      throw this.#awsError('GetObject', location, err);
    }
    const record = parseStored(approvalRecordSchema, text, location);
    if (record.approvalId !== approvalId) throw corruptStateError(location, `holds approval ${record.approvalId}, not ${approvalId}`);
    if (!etag) throw new AwsError(`S3 GetObject of ${location} returned no ETag`, { details: { location } });
    return { record, etag };
  }

  /** PutObject with a precondition. 'ok', or why it did not happen. */
  async #put(approvalId: string, record: ApprovalRecord, condition: { IfMatch: string } | { IfNoneMatch: '*' }): Promise<'ok' | 'lost' | 'missing'> {
    try {
      await this.#s3.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: this.keyOf(approvalId),
          Body: `${JSON.stringify(record)}\n`,
          ContentType: 'application/json',
          ...condition,
        }),
      );
      return 'ok';
    } catch (err) {
      const failure = s3Failure(err);
      if (failure === 'precondition' || failure === 'conflict') return 'lost';
      if (failure === 'missing') return 'missing';
      throw this.#awsError('PutObject', this.locationOf(approvalId), err);
    }
  }

  /**
   * Read, transform, conditional PUT, retry. `confirm` (decide only) re-reads after a successful
   * PUT and says whether the write really stuck: a result to return, or undefined to go round again.
   */
  protected override async mutate<R>(
    approvalId: string,
    transition: (record: ApprovalRecord) => Transition<R>,
    confirm?: (written: ApprovalRecord, result: R) => Promise<R | undefined>,
  ): Promise<Mutation<R>> {
    if (!APPROVAL_ID_PATTERN.test(approvalId)) return { found: false };
    return this.#mutex.run(approvalId, async () => {
      for (let attempt = 1; attempt <= this.#maxAttempts; attempt += 1) {
        const current = await this.#read(approvalId);
        if (!current) return { found: false };
        const { next, result } = transition(current.record);
        if (!next) return { found: true, result };
        assertWritableRecord(next);
        // The transition's result refers to `next`; setting the revision here updates both.
        next.revision = current.record.revision + 1;
        const put = await this.#put(approvalId, next, { IfMatch: current.etag });
        if (put === 'missing') return { found: false };
        if (put === 'ok') {
          if (!confirm) return { found: true, result };
          const confirmed = await confirm(next, result);
          if (confirmed !== undefined) return { found: true, result: confirmed };
        }
        await delay(backoffMs(attempt));
      }
      throw new ConflictError(`Approval ${approvalId} is being changed by others; gave up after ${this.#maxAttempts} attempts`, { code: 'Busy' });
    });
  }

  async create(input: ApprovalRecordInput): Promise<ApprovalRecord> {
    const record: ApprovalRecord = { ...validateInput(approvalRecordSchema, input, 'approval record'), revision: 1 };
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt += 1) {
      const put = await this.#put(record.approvalId, record, { IfNoneMatch: '*' });
      if (put === 'ok') return record;
      // 412: it exists. 409: a concurrent conditional write; look whether it exists now.
      if (await this.#read(record.approvalId)) break;
      await delay(backoffMs(attempt));
    }
    throw new ConflictError(`Approval ${record.approvalId} already exists`, { code: 'AlreadyExists' });
  }

  async get(approvalId: string): Promise<ApprovalRecord | undefined> {
    return (await this.#read(approvalId))?.record;
  }

  async decide(approvalId: string, input: DecideInput): Promise<DecideResult> {
    const checked = validateInput(decideInputSchema, input, 'decision');
    const decisionId = randomId(9);
    // Reads back what a successful conditional PUT wrote: a decision must carry our decisionId,
    // a counted vote must be among the approvals. Otherwise our write was overwritten (only on a
    // backend whose conditional writes are not atomic): re-apply, or report who won.
    const confirm = async (written: ApprovalRecord, result: DecideResult): Promise<DecideResult | undefined> => {
      if (result.outcome !== 'decided' && !(result.outcome === 'pending-second' && result.counted)) return result;
      const now = await this.#read(approvalId);
      if (!now) return { outcome: 'not-found' };
      if (result.outcome === 'decided' && now.record.decision?.decisionId === decisionId) return { outcome: 'decided', record: now.record };
      if (result.outcome === 'pending-second' && now.record.approvals.some((v) => v.by === checked.by)) {
        return { outcome: 'pending-second', record: written, counted: true };
      }
      const again = decideTransition(now.record, checked, decisionId).result;
      return again.outcome === 'decided' || again.outcome === 'pending-second' ? undefined : again;
    };
    const out = await this.mutate(approvalId, (r) => decideTransition(r, checked, decisionId), confirm);
    return out.found ? out.result : { outcome: 'not-found' };
  }

  protected override async listWhere(keep: (record: ApprovalRecord) => boolean): Promise<ApprovalRecord[]> {
    const ids: string[] = [];
    try {
      for await (const o of listS3Objects(this.#s3, { bucket: this.#bucket, prefix: this.#prefix })) {
        const rest = o.Key?.slice(this.#prefix.length);
        if (rest?.endsWith('.json') && APPROVAL_ID_PATTERN.test(rest.slice(0, -5))) ids.push(rest.slice(0, -5));
      }
    } catch (err) {
      throw this.#awsError('ListObjectsV2', `s3://${this.#bucket}/${this.#prefix}`, err);
    }

    const found: ApprovalRecord[] = [];
    // Eight reads at a time (p-limit).
    await pLimit(8).map(ids, async (id) => {
      try {
        const stored = await this.#read(id);
        if (stored && keep(stored.record)) found.push(stored.record);
      } catch (err) {
        this.#logger?.warn('approval store: skipping an approval that cannot be read', { location: this.locationOf(id), error: describeError(err) });
      }
    });
    return found.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /**
   * Checks that the bucket enforces conditional writes (If-None-Match and If-Match), which this
   * store's atomicity rests on. Some S3-compatible stores ignore the headers. Call at start-up;
   * ConfigError naming the bucket when a precondition is not enforced.
   */
  async checkConditionalWrites(): Promise<void> {
    const key = `${this.#prefix}.probe-${randomId(9)}`;
    const location = `s3://${this.#bucket}/${key}`;
    const put = async (params: { IfNoneMatch?: '*'; IfMatch?: string }): Promise<string | 'rejected'> => {
      try {
        const out = await this.#s3.send(new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: randomId(9), ...params }));
        return out.ETag ?? '';
      } catch (err) {
        if (s3Failure(err) === 'precondition') return 'rejected';
        throw this.#awsError('PutObject', location, err);
      }
    };
    try {
      const first = await put({ IfNoneMatch: '*' });
      if (first === 'rejected' || !first) throw new ConfigError(`S3 bucket ${this.#bucket}: a conditional create of ${location} did not return an ETag`);
      if ((await put({ IfNoneMatch: '*' })) !== 'rejected') {
        throw new ConfigError(`S3 bucket ${this.#bucket} does not enforce If-None-Match: approvals cannot be shared safely between replicas`);
      }
      if ((await put({ IfMatch: '"00000000000000000000000000000000"' })) !== 'rejected') {
        throw new ConfigError(`S3 bucket ${this.#bucket} does not enforce If-Match: approvals cannot be shared safely between replicas`);
      }
      if ((await put({ IfMatch: first })) === 'rejected') {
        throw new ConfigError(`S3 bucket ${this.#bucket} rejected If-Match with the current ETag: approvals cannot be updated`);
      }
    } finally {
      await this.#s3.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key })).catch(() => undefined);
    }
  }
}
