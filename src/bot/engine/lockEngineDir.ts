import { readFile, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../errors.js';
import { createFileExclusive } from '../../stores/storeIo.js';

/** Directories this process holds: two engines on one directory would interleave their journals. */
const held = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

/**
 * Takes `<dir>/engine.lock` (this process's pid), so that one process at a time runs the embedded
 * engine on a directory. A lock left by a process that is gone (killed) is taken over. Returns the
 * release function (synchronous, so a stopping engine frees the directory at once).
 */
export async function lockEngineDir(dir: string): Promise<() => void> {
  const path = join(dir, 'engine.lock');
  if (held.has(path)) throw new ConfigError(`the embedded engine already runs on ${dir} in this process`, { code: 'EngineDirLocked' });
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await createFileExclusive(path, `${process.pid}\n`)) {
      held.add(path);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        held.delete(path);
        rmSync(path, { force: true });
      };
    }
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
      throw new ConfigError(`process ${holder} runs the embedded engine on ${dir}; one process per directory (remove ${path} only if that process is not sentinel)`, { code: 'EngineDirLocked' });
    }
    await rm(path, { force: true });
  }
  throw new ConfigError(`cannot take the embedded engine's lock ${path}`, { code: 'EngineDirLocked' });
}
