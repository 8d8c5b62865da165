/**
 * The runtime settings the image gives the bot: the Dockerfile's `ENV NODE_OPTIONS=…` (V8 flags)
 * and `ENV MALLOC_…=…` (glibc's malloc tunables) lines, so that the benchmarks run the bot as the
 * image runs it. One `ENV NAME=VALUE` a line; quotes around the value are taken off.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/util/packageRoot.js';

export interface ImageEnv {
  nodeOptions: string;
  /** MALLOC_* name → value. */
  malloc: Record<string, string>;
}

export function readImageEnv(dockerfile = join(packageRoot(), 'Dockerfile')): ImageEnv {
  const text = readFileSync(dockerfile, 'utf8');
  const env: ImageEnv = { nodeOptions: '', malloc: {} };
  for (const m of text.matchAll(/^ENV (NODE_OPTIONS|MALLOC_[A-Z_]+_?)=(.*)$/gm)) {
    const value = m[2]!.trim().replace(/^"(.*)"$/, '$1');
    if (m[1] === 'NODE_OPTIONS') env.nodeOptions = value;
    else env.malloc[m[1]!] = value;
  }
  return env;
}
