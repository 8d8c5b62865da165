import { mkdir, mkdtemp, readFile, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AppendHandles } from '../../src/stores/appendHandles.js';
import { descriptorsOn } from '../helpers/descriptorsOn.js';

const dirs: string[] = [];
const handles: AppendHandles[] = [];
afterAll(async () => {
  await Promise.all(handles.map((h) => h.closeAll()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function setUp(options: ConstructorParameters<typeof AppendHandles>[0] = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'sentinel-append-'));
  dirs.push(dir);
  const h = new AppendHandles(options);
  handles.push(h);
  return { dir, h };
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('AppendHandles', () => {
  it('appends concurrent writes to one file in the order they were asked, through one descriptor', async () => {
    const { dir, h } = await setUp({ idleMs: 60_000 });
    const path = join(dir, 'a.ndjson');
    await Promise.all(Array.from({ length: 200 }, (_, i) => h.append(path, `${i}\n`)));
    expect(await readFile(path, 'utf8')).toBe(Array.from({ length: 200 }, (_, i) => `${i}\n`).join(''));
    expect(h.openCount).toBe(1);
    expect(await descriptorsOn(path)).toBe(1);
  });

  it('writes a large append whole, in order with small ones', async () => {
    const { dir, h } = await setUp({ idleMs: 60_000 });
    const path = join(dir, 'big.ndjson');
    const big = `${'x'.repeat(3 * 256 * 1024 + 17)}\n`;
    await Promise.all([h.append(path, 'a\n'), h.append(path, big), h.append(path, 'b\n')]);
    expect(await readFile(path, 'utf8')).toBe(`a\n${big}b\n`);
  });

  it('creates the file with mode 0600', async () => {
    const { dir, h } = await setUp();
    const path = join(dir, 'm.ndjson');
    await h.append(path, 'x\n');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('closes a file once it has been idle', async () => {
    const { dir, h } = await setUp({ idleMs: 30 });
    const path = join(dir, 'idle.ndjson');
    await h.append(path, 'one\n');
    expect(await descriptorsOn(path)).toBe(1);
    await delay(150);
    expect(h.openCount).toBe(0);
    expect(await descriptorsOn(path)).toBe(0);
    await h.append(path, 'two\n');
    expect(await readFile(path, 'utf8')).toBe('one\ntwo\n');
  });

  it('keeps at most maxOpen files open, closing the least recently used', async () => {
    const { dir, h } = await setUp({ maxOpen: 2, idleMs: 60_000 });
    const paths = ['p0', 'p1', 'p2', 'p3'].map((p) => join(dir, p));
    for (let round = 0; round < 3; round++) for (const p of paths) await h.append(p, `${round}\n`);
    expect(h.openCount).toBeLessThanOrEqual(2);
    expect((await Promise.all(paths.map(descriptorsOn))).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(2);
    for (const p of paths) expect(await readFile(p, 'utf8')).toBe('0\n1\n2\n');
  });

  it('writes at the end of the file even when it was shortened meanwhile (O_APPEND)', async () => {
    const { dir, h } = await setUp({ idleMs: 60_000 });
    const path = join(dir, 'cut.ndjson');
    await h.append(path, 'kept\ntorn-frag');
    await truncate(path, 5);
    await h.append(path, 'next\n');
    expect(await readFile(path, 'utf8')).toBe('kept\nnext\n');
  });

  it('rejects an append that fails, and the next one opens the file again', async () => {
    const { dir, h } = await setUp({ idleMs: 60_000 });
    const path = join(dir, 'later', 'f.ndjson');
    await expect(h.append(path, 'lost\n')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(h.openCount).toBe(0);
    await mkdir(join(dir, 'later'));
    await h.append(path, 'written\n');
    expect(await readFile(path, 'utf8')).toBe('written\n');
  });

  it('closeAll waits for the appends under way and closes every file', async () => {
    const { dir, h } = await setUp({ idleMs: 60_000 });
    const paths = ['c0', 'c1', 'c2'].map((p) => join(dir, p));
    const pending = paths.flatMap((p) => Array.from({ length: 20 }, (_, i) => h.append(p, `${i}\n`)));
    await h.closeAll();
    await Promise.all(pending);
    expect(h.openCount).toBe(0);
    for (const p of paths) {
      expect(await readFile(p, 'utf8')).toBe(Array.from({ length: 20 }, (_, i) => `${i}\n`).join(''));
      expect(await descriptorsOn(p)).toBe(0);
    }
  });
});
