import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { LimitExceededError } from '../errors.js';
import { putEvidence, type PutEvidenceResult } from '../pipeline/evidence/putEvidence.js';

/** Bodies up to this size are uploaded from memory (the SDK can retry them); larger ones are streamed from the file. */
const BUFFERED_UPLOAD_MAX = 5 * 1024 * 1024;

/**
 * A sink for bytes read from the cluster (a container log, an exec's stdout): hashes and counts
 * them while writing them to `file` (created exclusively, mode 600). Fails as soon as more than
 * `maxBytes` arrive: with `tooLarge`'s error, or a LimitExceededError (code `TooLarge`) naming `what`.
 */
export class HashingFileSink extends Writable {
  private readonly hash = createHash('sha256');
  private handle: FileHandle | undefined;
  private count = 0;
  private digest: string | undefined;
  /** The first bytes written (to check a file's format). */
  head: Buffer = Buffer.alloc(0);

  constructor(
    readonly file: string,
    private readonly maxBytes: number,
    what: string,
    private readonly tooLarge: (limit: number) => Error = (limit) =>
      new LimitExceededError(`${what} grew past its limit of ${limit} bytes`, { code: 'TooLarge', details: { limit } }),
  ) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _construct(callback: (error?: Error | null) => void): void {
    open(this.file, 'wx', 0o600).then((h) => {
      this.handle = h;
      callback();
    }, callback);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.count += chunk.length;
    if (this.count > this.maxBytes) {
      callback(this.tooLarge(this.maxBytes));
      return;
    }
    if (this.head.length < 64) this.head = Buffer.concat([this.head, chunk.subarray(0, 64 - this.head.length)]);
    this.hash.update(chunk);
    this.handle!.write(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.digest = this.hash.digest('hex');
    const h = this.handle;
    this.handle = undefined;
    (h ? h.close() : Promise.resolve()).then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const h = this.handle;
    this.handle = undefined;
    (h ? h.close() : Promise.resolve()).then(
      () => callback(error),
      () => callback(error),
    );
  }

  /** sha256 and byte count, once the stream has finished. */
  result(): { sha256: string; size: number } {
    if (this.digest === undefined) throw new Error('the evidence sink has not finished');
    return { sha256: this.digest, size: this.count };
  }
}

/** Runs `fn` with a private scratch directory that is always removed afterwards. */
export async function withScratchDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface StoreFileInput {
  bucket: string;
  key: string;
  file: string;
  size: number;
  sha256: string;
  metadata: Record<string, string>;
  contentType: string;
}

/** Stores a finished sink's file write-once (putEvidence: a rerun with the same content writes nothing). */
export async function storeEvidenceFile(s3: S3Client, input: StoreFileInput): Promise<PutEvidenceResult> {
  const stream = input.size > BUFFERED_UPLOAD_MAX ? createReadStream(input.file) : undefined;
  try {
    const body = stream ?? (await readFile(input.file));
    return await putEvidence(s3, {
      bucket: input.bucket,
      key: input.key,
      body,
      contentLength: input.size,
      sha256: input.sha256,
      metadata: input.metadata,
      contentType: input.contentType,
    });
  } finally {
    stream?.destroy();
  }
}
