import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { AwsError, ConflictError } from '../../errors.js';

export interface PutEvidenceInput {
  bucket: string;
  key: string;
  body: Buffer | Uint8Array | string | NodeJS.ReadableStream;
  contentLength?: number;
  sha256: string;
  metadata: Record<string, string>;
  contentType?: string;
}

export interface PutEvidenceResult {
  /** False when the same object was already stored (a retry). */
  created: boolean;
  location: string;
}

function isPreconditionFailed(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'PreconditionFailed' || e?.Code === 'PreconditionFailed' || e?.$metadata?.httpStatusCode === 412;
}

/**
 * S3 metadata values must be printable ASCII: anything else is percent-encoded.
 * A value holding `%` is encoded too, so `decodeURIComponent` of any stored
 * value gives the original back (`/tmp/a%20b` is not mistaken for `/tmp/a b`);
 * so is one with leading or trailing spaces, which HTTP would trim.
 */
export function s3MetadataValue(value: string): string {
  const plain = /^[\x20-\x24\x26-\x7e]*$/.test(value) && value.trim() === value;
  return plain ? value : encodeURIComponent(value);
}

/**
 * Writes an evidence object once (`If-None-Match: *`). A retry that finds the
 * same content (same sha256 metadata) already there succeeds without writing;
 * a different object under the key is a conflict, never overwritten.
 */
export async function putEvidence(s3: S3Client, input: PutEvidenceInput): Promise<PutEvidenceResult> {
  const location = `s3://${input.bucket}/${input.key}`;
  const metadata = Object.fromEntries(Object.entries({ ...input.metadata, sha256: input.sha256 }).map(([k, v]) => [k, s3MetadataValue(v)]));
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: input.bucket,
        Key: input.key,
        Body: input.body as never,
        ...(input.contentLength !== undefined ? { ContentLength: input.contentLength } : {}),
        ContentType: input.contentType ?? 'application/octet-stream',
        ChecksumSHA256: Buffer.from(input.sha256, 'hex').toString('base64'),
        Metadata: metadata,
        IfNoneMatch: '*',
      }),
    );
    return { created: true, location };
  } catch (err) {
    if (!isPreconditionFailed(err)) throw new AwsError(`cannot store evidence at ${location}: ${(err as Error).message}`, { cause: err });
  }
  const head = await s3.send(new HeadObjectCommand({ Bucket: input.bucket, Key: input.key })).catch((err: unknown) => {
    throw new AwsError(`cannot read existing evidence at ${location}: ${(err as Error).message}`, { cause: err });
  });
  if (head.Metadata?.sha256 === input.sha256) return { created: false, location };
  throw new ConflictError(`a different object already exists at ${location}; evidence is never overwritten`, { code: 'EvidenceConflict' });
}
