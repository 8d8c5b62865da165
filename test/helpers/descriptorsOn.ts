import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Descriptors this process has open on `path` (Linux: /proc/self/fd). */
export async function descriptorsOn(path: string): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) if ((await readlink(join('/proc/self/fd', fd)).catch(() => '')) === path) n++;
  return n;
}
