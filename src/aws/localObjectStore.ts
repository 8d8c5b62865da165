/**
 * The S3 operations sentinel uses, on local disk, for embedded mode: a stand-in for `deps.aws.s3`
 * when there is no AWS account. `send(command)` serves, from `<SENTINEL_DATA_DIR>/objects`:
 *
 * - PutObject: Body as string, Buffer/Uint8Array or a stream (streamed to disk, never buffered
 *   whole); ContentType, Metadata, ContentLength, ChecksumSHA256 and ContentMD5 (checked: 400
 *   BadDigest); `IfNoneMatch: '*'` (412 PreconditionFailed when the key exists) and
 *   `IfMatch: <ETag>` (412 on another ETag; 404 NoSuchKey when there is no object; 409
 *   ConditionalRequestConflict when it was deleted while the body was being written, as S3).
 * - GetObject (Body with the SDK's transformToString / transformToByteArray /
 *   transformToWebStream, Metadata, ETag, ContentLength, ContentType, LastModified; with
 *   ChecksumMode ENABLED the ChecksumSHA256 it was written with), HeadObject (404 NotFound),
 *   DeleteObject, DeleteObjects (Quiet too), ListObjectsV2 (Prefix, MaxKeys up to 1000,
 *   ContinuationToken, StartAfter; keys in S3's order).
 *
 * Anything else (another command, or a parameter these do not take, e.g. Range or Delimiter) is
 * refused with 501 NotImplemented naming it. Errors have S3's names, classes and HTTP statuses
 * (makeS3Error.ts). Buckets need no creating: any valid bucket name is a directory.
 *
 * On disk (locateObject.ts): each key is a symbolic link at `objects/<bucket>/<key>` to an
 * immutable version file, with the version's record (ETag, size, content type, user metadata,
 * sha256) beside it as a JSON sidecar. Writes go to a temp file (fsync), then the version and
 * its record are renamed into place (fsync), and the key's link is replaced by rename(2) (fsync
 * of its directory): readers see the old object or the new one, whole. Reads check the bytes
 * against the recorded size and SHA-256.
 *
 * Conditional writes are atomic within a process and across processes on one host: every
 * change of a key holds a per-key lock (an in-process mutex and an O_EXCL lock file, taken over
 * when its holder has died: lockObjectKey.ts) for its condition check and its link's rename;
 * bodies are written before the lock is taken.
 *
 * Limits where S3 is more permissive: keys must be usable as paths (validateObjectName.ts) and a
 * key cannot be the "folder" of other keys (`a` and `a/b`): the second is refused with 400.
 */
import { rm, mkdir, readdir, rename, rmdir, stat, symlink, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type DeleteObjectCommandOutput,
  type DeleteObjectsCommandOutput,
  type GetObjectCommandOutput,
  type HeadObjectCommandOutput,
  type ListObjectsV2CommandOutput,
  type PutObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { z } from 'zod';
import { AwsNotConfiguredError } from '../errors.js';
import { isErrno, syncDir } from '../stores/storeIo.js';
import { listObjectKeys } from './objectStore/listObjectKeys.js';
import { newVersionId, objectLayout, type ObjectLayout } from './objectStore/locateObject.js';
import { ObjectKeyLocks } from './objectStore/lockObjectKey.js';
import { isLocalS3Error, makeS3Error } from './objectStore/makeS3Error.js';
import { IDLE_BODY_MS, openObjectBody } from './objectStore/openObjectBody.js';
import { placeObjectBlob, readObjectVersion, removeObjectVersion, writeObjectRecord, type ObjectRecord, type ObjectVersion } from './objectStore/readObjectVersion.js';
import { validateBucketName, validateObjectKey } from './objectStore/validateObjectName.js';
import { writeObjectBlob } from './objectStore/writeObjectBlob.js';

/** The commands served, for messages. */
export const SERVED_COMMANDS = ['PutObject', 'GetObject', 'HeadObject', 'DeleteObject', 'DeleteObjects', 'ListObjectsV2'] as const;

/** S3's limit on user metadata: keys and values, in UTF-8 bytes. */
const METADATA_MAX_BYTES = 2048;
const METADATA_KEY = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const METADATA_VALUE = /^[\x20-\x7e]*$/;
/** A PutObject without a content type: the SDK sends this one, so it is what S3 keeps for sentinel. */
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
const LIST_MAX = 1000;
/** Upload leftovers older than this (a process killed mid-upload) are removed when a store starts. */
const STALE_TMP_MS = 24 * 60 * 60 * 1000;

const ok = (httpStatusCode = 200) => ({ $metadata: { httpStatusCode, attempts: 1, totalRetryDelay: 0 } });

const putInput = z.object({
  Bucket: z.string(),
  Key: z.string(),
  Body: z.unknown().optional(),
  ContentLength: z.number().int().nonnegative().optional(),
  ContentType: z.string().max(1024).optional(),
  Metadata: z.record(z.string(), z.string()).optional(),
  IfNoneMatch: z.string().optional(),
  IfMatch: z.string().optional(),
  ChecksumSHA256: z.string().optional(),
  ChecksumAlgorithm: z.string().optional(),
  ContentMD5: z.string().optional(),
});
const getInput = z.object({ Bucket: z.string(), Key: z.string(), ChecksumMode: z.literal('ENABLED').optional() });
const deleteInput = z.object({ Bucket: z.string(), Key: z.string() });
const deleteManyInput = z.object({
  Bucket: z.string(),
  Delete: z.object({ Objects: z.array(z.object({ Key: z.string() }).strict()), Quiet: z.boolean().optional() }).strict(),
});
const listInput = z.object({
  Bucket: z.string(),
  Prefix: z.string().optional(),
  MaxKeys: z.number().int().optional(),
  ContinuationToken: z.string().optional(),
  StartAfter: z.string().optional(),
});

/** Parses a command's input; a parameter the schema does not take is refused (501) by name, a wrong type with 400. */
function parseInput<S extends z.ZodObject>(schema: S, command: string, input: unknown): z.output<S> {
  const given = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const unknown = Object.keys(given).filter((k) => given[k] !== undefined && !Object.hasOwn(schema.shape, k));
  if (unknown.length) {
    throw makeS3Error('NotImplemented', `the local object store does not implement ${unknown.join(', ')} on ${command} (it serves the S3 operations sentinel uses)`);
  }
  const parsed = schema.safeParse(given);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`);
    throw makeS3Error('InvalidArgument', `invalid ${command} input: ${issues.join('; ')}`);
  }
  return parsed.data;
}

/** User metadata as S3 keeps it: keys lower-cased, printable ASCII values, 2 KB in all. */
function checkMetadata(metadata: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  let bytes = 0;
  for (const [rawKey, value] of Object.entries(metadata ?? {})) {
    const key = rawKey.toLowerCase();
    if (!METADATA_KEY.test(key)) throw makeS3Error('InvalidArgument', `metadata key ${JSON.stringify(rawKey)} is not an HTTP header name`);
    if (!METADATA_VALUE.test(value)) throw makeS3Error('InvalidArgument', `metadata ${key}: the value must be printable US-ASCII (percent-encode anything else)`);
    if (Object.hasOwn(out, key)) throw makeS3Error('InvalidArgument', `metadata key ${key} is given twice (keys are case-insensitive)`);
    out[key] = value;
    bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  if (bytes > METADATA_MAX_BYTES) throw makeS3Error('MetadataTooLarge', `Your metadata headers exceed the maximum allowed metadata size: ${bytes} bytes, over ${METADATA_MAX_BYTES}`);
  return out;
}

const unquote = (etag: string) => etag.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');

function encodeToken(after: string): string {
  return Buffer.from(JSON.stringify({ after }), 'utf8').toString('base64url');
}

function decodeToken(token: string): string {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof v.after === 'string' && v.after !== '') return v.after;
  } catch {
    // Falls through to the error.
  }
  throw makeS3Error('InvalidArgument', 'The continuation token provided is incorrect');
}

function commonFields(record: ObjectRecord, checksumMode: 'ENABLED' | undefined) {
  return {
    AcceptRanges: 'bytes',
    LastModified: new Date(Math.floor(Date.parse(record.lastModified) / 1000) * 1000),
    ContentLength: record.size,
    ETag: record.etag,
    ContentType: record.contentType,
    Metadata: { ...record.metadata },
    ...(checksumMode === 'ENABLED' && record.checksumSha256 ? { ChecksumSHA256: record.checksumSha256, ChecksumType: 'FULL_OBJECT' as const } : {}),
  };
}

export interface LocalObjectStoreOptions {
  /** The store's directory: `<SENTINEL_DATA_DIR>/objects` (created, mode 0700). */
  root: string;
  /** How long a write waits for a key another process holds locked (default 30 s). */
  lockWaitMs?: number;
  /** A streamed GetObject body nobody reads within this time is closed (default 120 s). */
  idleBodyMs?: number;
}

export class LocalObjectStore {
  readonly layout: ObjectLayout;
  readonly #locks: ObjectKeyLocks;
  readonly #idleBodyMs: number;
  #ready: Promise<void> | undefined;

  constructor(options: LocalObjectStoreOptions) {
    this.layout = objectLayout(options.root);
    this.#locks = new ObjectKeyLocks({ dir: this.layout.locksDir, ...(options.lockWaitMs !== undefined ? { waitMs: options.lockWaitMs } : {}) });
    this.#idleBodyMs = options.idleBodyMs ?? IDLE_BODY_MS;
  }

  /** The store's directory. */
  get root(): string {
    return this.layout.root;
  }

  /**
   * S3Client's configuration (region, endpoint) does not exist here: an action that asks for it
   * needs AWS itself, and is told so (invokeAction turns this into its plan).
   */
  get config(): never {
    throw new AwsNotConfiguredError('S3', 'the local object store has no AWS configuration (region, endpoint)');
  }

  /** Nothing to close (an S3Client's destroy() closes its sockets; destroyAwsClients may call it). */
  destroy(): void {}

  send(command: PutObjectCommand, options?: unknown): Promise<PutObjectCommandOutput>;
  send(command: GetObjectCommand, options?: unknown): Promise<GetObjectCommandOutput>;
  send(command: HeadObjectCommand, options?: unknown): Promise<HeadObjectCommandOutput>;
  send(command: DeleteObjectCommand, options?: unknown): Promise<DeleteObjectCommandOutput>;
  send(command: DeleteObjectsCommand, options?: unknown): Promise<DeleteObjectsCommandOutput>;
  send(command: ListObjectsV2Command, options?: unknown): Promise<ListObjectsV2CommandOutput>;
  send(command: { input?: unknown }, options?: unknown): Promise<never>;
  async send(command: { input?: unknown }, _options?: unknown): Promise<unknown> {
    try {
      await (this.#ready ??= this.#prepare());
    } catch (err) {
      this.#ready = undefined;
      throw makeS3Error('InternalError', `the local object store cannot use ${this.root}: ${(err as Error).message}`, err);
    }
    try {
      if (command instanceof PutObjectCommand) return await this.#put(command.input);
      if (command instanceof GetObjectCommand) return await this.#get(command.input, true);
      if (command instanceof HeadObjectCommand) return await this.#get(command.input, false);
      if (command instanceof DeleteObjectCommand) return await this.#delete(command.input);
      if (command instanceof DeleteObjectsCommand) return await this.#deleteMany(command.input);
      if (command instanceof ListObjectsV2Command) return await this.#list(command.input);
    } catch (err) {
      if (isLocalS3Error(err) || err instanceof AwsNotConfiguredError) throw err;
      // A file system failure (disk full, permissions): S3's 500, naming it.
      throw makeS3Error('InternalError', `the local object store under ${this.root} failed: ${(err as Error).message}`, err);
    }
    const name = (command as { constructor?: { name?: string } })?.constructor?.name ?? typeof command;
    throw makeS3Error('NotImplemented', `the local object store does not serve ${name}: it serves only ${SERVED_COMMANDS.join(', ')} (the S3 operations sentinel uses, on local disk, for embedded mode)`);
  }

  /** The path of `bucket`/`key` under the store (its link; `cat` reads the object). Throws for a key the store refuses. */
  pathOf(bucket: string, key: string): string {
    return this.layout.keyPath(validateBucketName(bucket), validateObjectKey(key));
  }

  /** The local path of an `s3://bucket/key` location, or undefined when it is not one the store can hold. */
  pathOfLocation(location: string): string | undefined {
    const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(location);
    if (!m) return undefined;
    try {
      return this.pathOf(m[1]!, m[2]!);
    } catch {
      return undefined;
    }
  }

  /** The current version's record (size, ETag, sha256, metadata) of `bucket`/`key`, or undefined. */
  async describe(bucket: string, key: string): Promise<ObjectRecord | undefined> {
    const v = await readObjectVersion(this.layout, validateBucketName(bucket), validateObjectKey(key));
    return v?.record;
  }

  async #prepare(): Promise<void> {
    await mkdir(this.layout.tmpDir, { recursive: true, mode: 0o700 });
    await mkdir(this.layout.locksDir, { recursive: true, mode: 0o700 });
    // Leftovers of uploads cut short by a crash (never a committed object: those live in .blobs).
    const now = Date.now();
    for (const name of await readdir(this.layout.tmpDir).catch(() => [] as string[])) {
      const path = join(this.layout.tmpDir, name);
      const s = await stat(path).catch(() => undefined);
      if (s && now - s.mtimeMs > STALE_TMP_MS) await rm(path, { force: true, recursive: true });
    }
  }

  async #put(raw: unknown): Promise<PutObjectCommandOutput> {
    const input = parseInput(putInput, 'PutObject', raw);
    const bucket = validateBucketName(input.Bucket);
    const key = validateObjectKey(input.Key);
    const metadata = checkMetadata(input.Metadata);
    if (input.IfNoneMatch !== undefined && input.IfNoneMatch !== '*') throw makeS3Error('NotImplemented', `IfNoneMatch takes only '*' on PutObject, not ${JSON.stringify(input.IfNoneMatch)}`);
    if (input.IfNoneMatch !== undefined && input.IfMatch !== undefined) throw makeS3Error('NotImplemented', 'PutObject takes IfMatch or IfNoneMatch, not both');
    if (input.ChecksumAlgorithm !== undefined && input.ChecksumAlgorithm !== 'SHA256') throw makeS3Error('NotImplemented', `the local object store checks SHA256 checksums only, not ${input.ChecksumAlgorithm}`);

    // The condition is checked first (no body is written for a put that cannot succeed), and again at commit.
    const before = await readObjectVersion(this.layout, bucket, key);
    this.#checkCondition(input, before, before);

    const version = newVersionId();
    const tmp = join(this.layout.tmpDir, `${version}.upload`);
    const blob = await writeObjectBlob(tmp, input.Body, input.ContentLength);
    let placed = false;
    let replaced: ObjectVersion | undefined;
    try {
      if (input.ChecksumSHA256 !== undefined && input.ChecksumSHA256 !== Buffer.from(blob.sha256, 'hex').toString('base64')) {
        throw makeS3Error('BadDigest', 'The SHA256 you specified did not match the calculated checksum.');
      }
      if (input.ContentMD5 !== undefined && input.ContentMD5 !== Buffer.from(blob.md5, 'hex').toString('base64')) {
        throw makeS3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
      }
      const record: ObjectRecord = {
        format: 'sentinel.object/v1',
        bucket,
        key,
        version,
        etag: `"${blob.md5}"`,
        size: blob.size,
        contentType: input.ContentType ?? DEFAULT_CONTENT_TYPE,
        metadata,
        lastModified: new Date().toISOString(),
        sha256: blob.sha256,
        ...(input.ChecksumSHA256 !== undefined ? { checksumSha256: input.ChecksumSHA256 } : {}),
      };
      await placeObjectBlob(this.layout, bucket, version, tmp);
      placed = true;
      await writeObjectRecord(this.layout, record);
      replaced = await this.#locks.with(bucket, key, async () => {
        const current = await readObjectVersion(this.layout, bucket, key);
        this.#checkCondition(input, before, current);
        await this.#link(bucket, key, version);
        return current;
      });
    } catch (err) {
      if (placed) await removeObjectVersion(this.layout, bucket, version);
      else await rm(tmp, { force: true });
      throw err;
    }
    // Committed: the replaced version's files go (a reader still on them reads the link again).
    if (replaced) await removeObjectVersion(this.layout, bucket, replaced.record.version).catch(() => undefined);
    return { ...ok(), ETag: `"${blob.md5}"`, ...(input.ChecksumSHA256 !== undefined ? { ChecksumSHA256: input.ChecksumSHA256, ChecksumType: 'FULL_OBJECT' } : {}) };
  }

  /** PutObject's preconditions against the object now (`current`) and when the put began (`before`). */
  #checkCondition(input: { IfNoneMatch?: string | undefined; IfMatch?: string | undefined }, before: ObjectVersion | undefined, current: ObjectVersion | undefined): void {
    if (input.IfNoneMatch === '*' && current) throw makeS3Error('PreconditionFailed');
    if (input.IfMatch === undefined) return;
    if (!current) {
      // S3: If-Match on a key with no object is 404; one deleted while the upload ran is 409.
      throw before ? makeS3Error('ConditionalRequestConflict') : makeS3Error('NoSuchKey');
    }
    if (input.IfMatch.trim() !== '*' && unquote(input.IfMatch) !== unquote(current.record.etag)) throw makeS3Error('PreconditionFailed');
  }

  /** Points the key's link at `version` (rename over the old link: atomic), creating its directories. */
  async #link(bucket: string, key: string, version: string): Promise<void> {
    const path = this.layout.keyPath(bucket, key);
    const tmp = join(this.layout.tmpDir, `${version}.link`);
    await symlink(this.layout.linkTarget(bucket, key, version), tmp);
    try {
      for (let attempt = 0; ; attempt++) {
        let created: string | undefined;
        try {
          created = await mkdir(dirname(path), { recursive: true, mode: 0o700 });
          await rename(tmp, path);
        } catch (err) {
          // A concurrent delete pruned the (then empty) directory: make it again.
          if (isErrno(err, 'ENOENT') && attempt < 5) continue;
          if (isErrno(err, 'ENOTDIR') || isErrno(err, 'EEXIST') || isErrno(err, 'EISDIR') || isErrno(err, 'ENOTEMPTY')) throw this.#folderConflict(bucket, key);
          throw err;
        }
        await syncDir(dirname(path));
        if (created) {
          // New directories: make their entries durable too, up to the first that already existed.
          for (let dir = dirname(path); dir !== dirname(created); dir = dirname(dir)) await syncDir(dirname(dir));
        }
        return;
      }
    } finally {
      await rm(tmp, { force: true });
    }
  }

  #folderConflict(bucket: string, key: string): Error {
    return makeS3Error(
      'InvalidArgument',
      `the local object store cannot hold ${bucket}/${key}: on disk a key is a path, so a key cannot also be the folder of other keys (S3 allows "a" beside "a/b"; the local store does not)`,
    );
  }

  async #get(raw: unknown, withBody: boolean): Promise<GetObjectCommandOutput | HeadObjectCommandOutput> {
    const input = parseInput(getInput, withBody ? 'GetObject' : 'HeadObject', raw);
    const bucket = validateBucketName(input.Bucket);
    const key = validateObjectKey(input.Key);
    const out = await readObjectVersion(this.layout, bucket, key, async (v) => {
      if (!withBody) return { record: v.record, body: undefined };
      const body = await openObjectBody(v, this.#idleBodyMs);
      return body === 'gone' ? 'gone' : { record: v.record, body };
    });
    if (!out) throw makeS3Error(withBody ? 'NoSuchKey' : 'NotFound');
    return { ...ok(), ...commonFields(out.record, input.ChecksumMode), ...(out.body ? { Body: out.body } : {}) };
  }

  async #delete(raw: unknown): Promise<DeleteObjectCommandOutput> {
    const input = parseInput(deleteInput, 'DeleteObject', raw);
    await this.#deleteOne(validateBucketName(input.Bucket), validateObjectKey(input.Key));
    return ok(204);
  }

  /** Deletes the key's object, if any (S3: deleting a missing key succeeds). */
  async #deleteOne(bucket: string, key: string): Promise<void> {
    const path = this.layout.keyPath(bucket, key);
    const removed = await this.#locks.with(bucket, key, async () => {
      const current = await readObjectVersion(this.layout, bucket, key);
      if (!current) return undefined;
      await unlink(path).catch((err: unknown) => {
        if (!isErrno(err, 'ENOENT')) throw err;
      });
      await syncDir(dirname(path));
      return current;
    });
    if (!removed) return;
    await removeObjectVersion(this.layout, bucket, removed.record.version);
    // Empty directories go, up to the bucket's (one still in use refuses: ENOTEMPTY).
    const top = this.layout.bucketDir(bucket);
    for (let dir = dirname(path); dir !== top && relative(top, dir).split(sep)[0] !== '..'; dir = dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        break;
      }
    }
  }

  async #deleteMany(raw: unknown): Promise<DeleteObjectsCommandOutput> {
    const input = parseInput(deleteManyInput, 'DeleteObjects', raw);
    const bucket = validateBucketName(input.Bucket);
    const objects = input.Delete.Objects;
    if (objects.length === 0 || objects.length > LIST_MAX) {
      throw makeS3Error('MalformedXML', `DeleteObjects takes 1 to ${LIST_MAX} keys, not ${objects.length}`);
    }
    const deleted: { Key: string }[] = [];
    const errors: { Key: string; Code: string; Message: string }[] = [];
    for (const { Key } of objects) {
      try {
        await this.#deleteOne(bucket, validateObjectKey(Key));
        deleted.push({ Key });
      } catch (err) {
        if (!isLocalS3Error(err)) throw err;
        errors.push({ Key, Code: err.Code, Message: err.message });
      }
    }
    return { ...ok(), ...(input.Delete.Quiet ? {} : { Deleted: deleted }), ...(errors.length ? { Errors: errors } : {}) };
  }

  async #list(raw: unknown): Promise<ListObjectsV2CommandOutput> {
    const input = parseInput(listInput, 'ListObjectsV2', raw);
    const bucket = validateBucketName(input.Bucket);
    const prefix = input.Prefix ?? '';
    if (input.MaxKeys !== undefined && input.MaxKeys < 0) throw makeS3Error('InvalidArgument', 'MaxKeys must not be negative');
    const maxKeys = Math.min(input.MaxKeys ?? LIST_MAX, LIST_MAX);
    const token = input.ContinuationToken !== undefined ? decodeToken(input.ContinuationToken) : undefined;
    const after = token ?? (input.StartAfter !== undefined && input.StartAfter !== '' ? input.StartAfter : undefined);
    const keys = await listObjectKeys(this.layout, bucket, prefix, after);
    const contents: NonNullable<ListObjectsV2CommandOutput['Contents']> = [];
    let last: string | undefined;
    let i = 0;
    for (; i < keys.length && contents.length < maxKeys; i++) {
      const key = keys[i]!;
      const v = await readObjectVersion(this.layout, bucket, key);
      // Deleted since the walk: not listed.
      if (!v) continue;
      contents.push({ Key: key, LastModified: commonFields(v.record, undefined).LastModified, ETag: v.record.etag, Size: v.record.size, StorageClass: 'STANDARD' });
      last = key;
    }
    const truncated = i < keys.length && maxKeys > 0;
    return {
      ...ok(),
      Name: bucket,
      Prefix: prefix,
      MaxKeys: maxKeys,
      KeyCount: contents.length,
      IsTruncated: truncated,
      ...(contents.length ? { Contents: contents } : {}),
      ...(input.ContinuationToken !== undefined ? { ContinuationToken: input.ContinuationToken } : {}),
      ...(input.StartAfter !== undefined ? { StartAfter: input.StartAfter } : {}),
      ...(truncated && last !== undefined ? { NextContinuationToken: encodeToken(last) } : {}),
    };
  }
}

/** The store for a data directory: `<dataDir>/objects`. */
export function createLocalObjectStore(dataDir: string, options: Omit<LocalObjectStoreOptions, 'root'> = {}): LocalObjectStore {
  return new LocalObjectStore({ ...options, root: join(dataDir, 'objects') });
}

/**
 * The store typed as the S3Client it stands in for, to pass as `deps.aws.s3`. Only `send` of
 * the commands above works: no presigning (presignEvidence checks isLocalObjectStore first),
 * no `config` (an action reading it is told AWS is not configured), no middleware.
 */
export function localS3Client(store: LocalObjectStore): S3Client {
  return store as unknown as S3Client;
}

export function isLocalObjectStore(client: unknown): client is LocalObjectStore {
  return client instanceof LocalObjectStore;
}

