/**
 * An object's current version in the local object store: follow the key's link to its version,
 * read that version's record (the sidecar: ETag, size, content type, user metadata, sha256).
 * Versions are never changed once written; a writer that replaces or deletes an object removes
 * the old version's files after its link has moved, so a reader that loses that race finds a
 * file gone and reads the link again.
 */
import { mkdir, readFile, readlink, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { isErrno, writeFileAtomic } from '../../stores/storeIo.js';
import type { ObjectLayout } from './locateObject.js';
import { makeS3Error } from './makeS3Error.js';

export const objectRecordSchema = z.object({
  format: z.literal('sentinel.object/v1'),
  bucket: z.string().min(1),
  key: z.string().min(1),
  version: z.string().min(1),
  /** As S3 gives it: the MD5 of the bytes in hex, in double quotes. */
  etag: z.string().regex(/^"[0-9a-f]{32}"$/),
  size: z.number().int().nonnegative(),
  contentType: z.string(),
  /** User metadata, keys lower-cased as S3 returns them. */
  metadata: z.record(z.string(), z.string()),
  lastModified: z.iso.datetime(),
  /** SHA-256 of the bytes, lower-case hex: checked on every read. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The ChecksumSHA256 the writer sent (base64), returned with ChecksumMode ENABLED as S3 does. */
  checksumSha256: z.string().optional(),
});

export type ObjectRecord = z.output<typeof objectRecordSchema>;

export interface ObjectVersion {
  record: ObjectRecord;
  blobPath: string;
}

function corrupt(where: string, reason: string): Error {
  return makeS3Error('InternalError', `the local object store's ${where} is damaged: ${reason}`);
}

/** The version the key's link names; undefined when there is no such object (or the key is a "folder" of others). */
async function linkedVersion(layout: ObjectLayout, bucket: string, key: string): Promise<string | undefined> {
  const path = layout.keyPath(bucket, key);
  let target: string;
  try {
    target = await readlink(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
    // EINVAL: not a link. A directory is a prefix of other keys, not an object.
    if (isErrno(err, 'EINVAL')) {
      const isDir = await stat(path).then((s) => s.isDirectory(), () => false);
      if (isDir) return undefined;
      throw corrupt(path, 'it is a plain file, not a link to a stored version');
    }
    throw err;
  }
  const version = layout.versionOf(target, bucket);
  if (!version) throw corrupt(path, `its link points outside the store (${target})`);
  return version;
}

/** Reads and checks a version's record; undefined when its file is gone (the version was just replaced). */
export async function readObjectRecord(layout: ObjectLayout, bucket: string, key: string, version: string): Promise<ObjectRecord | undefined> {
  const path = layout.recordPath(bucket, version);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  let parsed;
  try {
    parsed = objectRecordSchema.safeParse(JSON.parse(text));
  } catch {
    throw corrupt(path, 'it is not JSON');
  }
  if (!parsed.success) throw corrupt(path, 'it does not match its schema');
  if (parsed.data.bucket !== bucket || parsed.data.key !== key || parsed.data.version !== version) throw corrupt(path, `it records ${parsed.data.bucket}/${parsed.data.key}, not ${bucket}/${key}`);
  return parsed.data;
}

/**
 * The current version of `bucket`/`key` with its record, or undefined when there is none.
 * `use` runs on it (e.g. to open its bytes); when it reports the version's files gone (returns
 * 'gone'), the link is read again.
 */
export async function readObjectVersion<T = ObjectVersion>(
  layout: ObjectLayout,
  bucket: string,
  key: string,
  use: (v: ObjectVersion) => Promise<T | 'gone'> = async (v) => v as T,
): Promise<T | undefined> {
  let previous: string | undefined;
  for (let attempt = 0; attempt < 20; attempt++) {
    const version = await linkedVersion(layout, bucket, key);
    if (!version) return undefined;
    const record = await readObjectRecord(layout, bucket, key, version);
    const out = record ? await use({ record, blobPath: layout.blobPath(bucket, version) }) : 'gone';
    if (out !== 'gone') return out;
    // The same link twice with its files gone is damage, not a race.
    if (version === previous && (await linkedVersion(layout, bucket, key)) === version) throw corrupt(layout.keyPath(bucket, key), `version ${version} has no ${record ? 'bytes' : 'record'}`);
    previous = version;
  }
  throw makeS3Error('SlowDown', `${bucket}/${key} kept changing while it was read`);
}

/** Writes a version's record (temp file + rename + fsync) into place. */
export async function writeObjectRecord(layout: ObjectLayout, record: ObjectRecord): Promise<void> {
  const path = layout.recordPath(record.bucket, record.version);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify(record, null, 2)}\n`);
}

/** Moves a finished upload's bytes into place as a version's blob. */
export async function placeObjectBlob(layout: ObjectLayout, bucket: string, version: string, tmpPath: string): Promise<void> {
  const path = layout.blobPath(bucket, version);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await rename(tmpPath, path);
}

/** Removes a version's bytes and record (a replaced or deleted object's, or an upload that lost its condition). */
export async function removeObjectVersion(layout: ObjectLayout, bucket: string, version: string): Promise<void> {
  await rm(layout.blobPath(bucket, version), { force: true });
  await rm(layout.recordPath(bucket, version), { force: true });
}
