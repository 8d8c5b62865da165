/**
 * Bucket names and object keys for the local object store, checked before any path is built
 * from them. S3's limits apply (bucket naming rules, keys of 1 to 1024 UTF-8 bytes). A key is
 * also a relative path under the bucket's directory, so the store refuses what a path cannot
 * hold safely, where S3 would accept it: NUL, a leading `/`, empty, `.` or `..` segments (so
 * `a//b` and a trailing `/` too), and segments over 255 bytes. Every refusal is an S3-shaped
 * 400 naming the reason.
 */
import { isIP } from 'node:net';
import { makeS3Error } from './makeS3Error.js';

/** S3's limit on a key, in UTF-8 bytes. */
export const KEY_MAX_BYTES = 1024;
/** A file name's limit on Linux file systems (NAME_MAX), in bytes. */
export const SEGMENT_MAX_BYTES = 255;

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Throws InvalidBucketName unless `bucket` follows S3's naming rules for general purpose buckets. */
export function validateBucketName(bucket: unknown): string {
  if (typeof bucket !== 'string' || !BUCKET.test(bucket) || bucket.includes('..') || isIP(bucket) !== 0 || bucket.startsWith('xn--') || bucket.startsWith('sthree-') || bucket.endsWith('-s3alias') || bucket.endsWith('--ol-s3')) {
    throw makeS3Error('InvalidBucketName', `The specified bucket is not valid: ${JSON.stringify(String(bucket)).slice(0, 80)}`);
  }
  return bucket;
}

function refuse(key: string, reason: string): never {
  const shown = JSON.stringify(key.length > 120 ? `${key.slice(0, 120)}…` : key);
  throw makeS3Error('InvalidArgument', `the local object store refuses the key ${shown}: ${reason}`);
}

/** Throws unless `key` is a key the local store can hold as a path; returns it. */
export function validateObjectKey(key: unknown): string {
  if (typeof key !== 'string' || key === '') throw makeS3Error('InvalidArgument', 'an object key must be a non-empty string');
  if (LONE_SURROGATE.test(key)) refuse(key, 'it is not valid Unicode (a lone surrogate)');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > KEY_MAX_BYTES) throw makeS3Error('KeyTooLongError', `Your key is too long: ${bytes} bytes, over S3's ${KEY_MAX_BYTES}`);
  if (key.includes('\0')) refuse(key, 'it contains NUL');
  if (key.startsWith('/')) refuse(key, 'it starts with / (an absolute path)');
  for (const segment of key.split('/')) {
    if (segment === '') refuse(key, 'it has an empty path segment (// or a trailing /)');
    if (segment === '.' || segment === '..') refuse(key, `it has a "${segment}" path segment`);
    if (Buffer.byteLength(segment, 'utf8') > SEGMENT_MAX_BYTES) refuse(key, `a path segment is over ${SEGMENT_MAX_BYTES} bytes`);
  }
  return key;
}

/** S3 lists keys in the binary order of their UTF-8 bytes. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
