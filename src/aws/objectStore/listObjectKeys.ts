/**
 * The keys of a bucket in the local object store that start with `prefix` and sort after
 * `after`, in S3's order (the binary order of their UTF-8 bytes). The walk descends only into
 * directories that can hold such keys. Links are objects; directories are key prefixes; anything
 * else under a bucket (a stray file) is not an object and is left out.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../../stores/storeIo.js';
import type { ObjectLayout } from './locateObject.js';
import { compareKeys } from './validateObjectName.js';

export async function listObjectKeys(layout: ObjectLayout, bucket: string, prefix: string, after: string | undefined): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, keyPrefix: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      // A directory pruned by a concurrent delete, or a bucket nothing was written to yet.
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return;
      throw err;
    }
    for (const entry of entries) {
      const key = `${keyPrefix}${entry.name}`;
      if (entry.isSymbolicLink()) {
        if (key.startsWith(prefix) && (after === undefined || compareKeys(key, after) > 0)) found.push(key);
      } else if (entry.isDirectory()) {
        const inner = `${key}/`;
        if (inner.startsWith(prefix) || prefix.startsWith(inner)) await walk(join(dir, entry.name), inner);
      }
    }
  };
  await walk(layout.bucketDir(bucket), '');
  return found.sort(compareKeys);
}
