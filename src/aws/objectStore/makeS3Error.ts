/**
 * Errors of the local object store in the shape the AWS SDK gives S3's: the same classes
 * (S3ServiceException, and NoSuchKey / NotFound where the SDK models them), `name` and `Code`
 * set to S3's error code, `$fault`, and `$metadata.httpStatusCode` as S3 answers. Callers that
 * tell errors apart by name or status (putEvidence, the block registry, the approval store) see
 * no difference between S3 and the local store.
 */
import { NoSuchKey, NotFound, S3ServiceException } from '@aws-sdk/client-s3';

/** S3's error codes the local store answers with, and their HTTP status. */
export const S3_ERRORS = {
  NoSuchKey: 404,
  /** HeadObject of a missing key: a HEAD answer has no body, so the SDK names it NotFound. */
  NotFound: 404,
  PreconditionFailed: 412,
  ConditionalRequestConflict: 409,
  InvalidBucketName: 400,
  KeyTooLongError: 400,
  InvalidArgument: 400,
  InvalidRequest: 400,
  MalformedXML: 400,
  MetadataTooLarge: 400,
  BadDigest: 400,
  IncompleteBody: 400,
  NotImplemented: 501,
  SlowDown: 503,
  InternalError: 500,
} as const;

export type S3ErrorCode = keyof typeof S3_ERRORS;

/** S3's own wording, where the caller gives none. */
const MESSAGES: Partial<Record<S3ErrorCode, string>> = {
  NoSuchKey: 'The specified key does not exist.',
  NotFound: 'Not Found',
  PreconditionFailed: 'At least one of the pre-conditions you specified did not hold',
  ConditionalRequestConflict: 'The conditional request cannot succeed due to a conflicting operation against this resource.',
  KeyTooLongError: 'Your key is too long',
  MetadataTooLarge: 'Your metadata headers exceed the maximum allowed metadata size',
};

export type LocalS3Error = S3ServiceException & { Code: S3ErrorCode };

/** An S3-shaped error: `makeS3Error('PreconditionFailed')`, or with a message naming what failed. */
export function makeS3Error(code: S3ErrorCode, message?: string, cause?: unknown): LocalS3Error {
  const status = S3_ERRORS[code];
  const text = message ?? MESSAGES[code] ?? code;
  const $metadata = { httpStatusCode: status, attempts: 1, totalRetryDelay: 0 };
  const err =
    code === 'NoSuchKey'
      ? new NoSuchKey({ message: text, $metadata })
      : code === 'NotFound'
        ? new NotFound({ message: text, $metadata })
        : new S3ServiceException({ name: code, $fault: status >= 500 ? 'server' : 'client', $metadata, message: text });
  if (cause !== undefined) (err as { cause?: unknown }).cause = cause;
  return Object.assign(err, { Code: code });
}

/** True for an error the local store threw on purpose (as opposed to a bug or a file system error). */
export function isLocalS3Error(err: unknown): err is LocalS3Error {
  const code = (err as { Code?: unknown } | undefined)?.Code;
  return err instanceof S3ServiceException && typeof code === 'string' && Object.hasOwn(S3_ERRORS, code);
}
