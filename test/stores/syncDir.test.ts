import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

// Counts the directory fsyncs by spying on node:fs/promises' open (a directory opened for reading
// is a directory fsync in storeIo); the files are real.
const opened: string[] = [];
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    open: (async (path: string, flags?: string, mode?: number) => {
      if (flags === 'r') opened.push(String(path));
      return actual.open(path, flags, mode);
    }) as typeof actual.open,
  };
});

const { writeFileAtomic } = await import('../../src/stores/storeIo.js');
const { readFile } = await import('node:fs/promises');

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('directory fsyncs', () => {
  it('50 files written into one directory at once share a few directory fsyncs, and every write is on disk when it returns', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sentinel-syncdir-'));
    dirs.push(dir);
    opened.length = 0;
    await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        await writeFileAtomic(join(dir, `f-${i}.json`), `{"n":${i}}\n`);
        expect(await readFile(join(dir, `f-${i}.json`), 'utf8')).toBe(`{"n":${i}}\n`);
      }),
    );
    const dirSyncs = opened.filter((p) => p === dir).length;
    expect(dirSyncs).toBeGreaterThan(0);
    expect(dirSyncs).toBeLessThan(25);
  });

  it('a write that comes after a directory fsync has started gets one of its own, after its rename', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sentinel-syncdir-'));
    dirs.push(dir);
    opened.length = 0;
    await writeFileAtomic(join(dir, 'a.json'), 'a');
    await writeFileAtomic(join(dir, 'b.json'), 'b');
    expect(opened.filter((p) => p === dir)).toHaveLength(2);
  });
});
