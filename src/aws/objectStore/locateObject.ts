/**
 * Where the local object store keeps things, under its root (`<SENTINEL_DATA_DIR>/objects`):
 *
 *   <root>/<bucket>/<key>                      a symbolic link: the object's current version
 *   <root>/.blobs/<bucket>/<hh>/<version>      the bytes of a version (never changed once written)
 *   <root>/.blobs/<bucket>/<hh>/<version>.json its record: ETag, size, content type, metadata, sha256
 *   <root>/.tmp/                               uploads in progress
 *   <root>/.locks/                             per-key lock files (lockObjectKey.ts)
 *
 * A key is a path under its bucket's directory, so `cat`, `sha256sum` and `ls` work on the data
 * directory as on any files. Replacing or deleting an object is one rename(2) or unlink(2) of
 * its link: a reader sees the old version or the new one, with its own record, never a mix.
 * Names starting with `.` cannot be bucket names, so the store's own directories never clash.
 */
import { randomBytes } from 'node:crypto';
import { dirname, join, relative, sep } from 'node:path';

export interface ObjectLayout {
  root: string;
  tmpDir: string;
  locksDir: string;
  bucketDir(bucket: string): string;
  keyPath(bucket: string, key: string): string;
  blobPath(bucket: string, version: string): string;
  recordPath(bucket: string, version: string): string;
  /** The link's target for a version, relative to the key's directory (the data directory can move). */
  linkTarget(bucket: string, key: string, version: string): string;
  /** The version a link target names, when it is one of this store's (anything else is not trusted). */
  versionOf(target: string, bucket: string): string | undefined;
}

const VERSION = /^[0-9a-z]{8,12}[0-9a-f]{24}$/;

/** A new version id: time-ordered, then 12 random bytes (hex). */
export function newVersionId(): string {
  return `${Date.now().toString(36)}${randomBytes(12).toString('hex')}`;
}

export function objectLayout(root: string): ObjectLayout {
  const blobs = join(root, '.blobs');
  const shard = (version: string) => version.slice(-2);
  const layout: ObjectLayout = {
    root,
    tmpDir: join(root, '.tmp'),
    locksDir: join(root, '.locks'),
    bucketDir: (bucket) => join(root, bucket),
    keyPath: (bucket, key) => join(root, bucket, ...key.split('/')),
    blobPath: (bucket, version) => join(blobs, bucket, shard(version), version),
    recordPath: (bucket, version) => join(blobs, bucket, shard(version), `${version}.json`),
    linkTarget: (bucket, key, version) => relative(dirname(layout.keyPath(bucket, key)), layout.blobPath(bucket, version)),
    versionOf(target, bucket) {
      const parts = target.split(sep);
      const version = parts[parts.length - 1] ?? '';
      const ok = VERSION.test(version) && parts[parts.length - 2] === shard(version) && parts[parts.length - 3] === bucket && parts[parts.length - 4] === '.blobs';
      return ok ? version : undefined;
    },
  };
  return layout;
}
