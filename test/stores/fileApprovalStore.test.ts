import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { DecideResult } from '../../src/stores/approvalStore.js';
import { FileApprovalStore } from '../../src/stores/fileApprovalStore.js';
import { type ApprovalStoreHarness, TOKEN, approvalStoreContract, at, pendingRecord } from './approvalStoreContract.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sentinel-approvals-'));
  dirs.push(dir);
  return dir;
}

async function latestRevision(dir: string, approvalId: string): Promise<string> {
  const names = (await readdir(join(dir, approvalId))).filter((n) => /^r\d{10}\.json$/.test(n)).sort();
  return join(dir, approvalId, names[names.length - 1]!);
}

async function fileHarness(): Promise<ApprovalStoreHarness & { dir: string }> {
  const dir = await tempDir();
  return {
    dir,
    open: (options = {}) => new FileApprovalStore({ dir, fsync: false, ...options }),
    corrupt: async (approvalId, text) => {
      const path = await latestRevision(dir, approvalId);
      await writeFile(path, text);
      return path;
    },
  };
}

describe('FileApprovalStore', () => {
  approvalStoreContract(fileHarness);

  it('keeps task tokens in files only its owner can read', async () => {
    const h = await fileHarness();
    const { approvalId } = await h.open().create(pendingRecord());
    const path = await latestRevision(h.dir, approvalId);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(path, 'utf8')).toContain(TOKEN);
  });

  it('keeps the first revision and the newest four, and reads the newest', async () => {
    const h = await fileHarness();
    const store = new FileApprovalStore({ dir: h.dir, fsync: false, keepRevisions: 4 });
    const { approvalId } = await store.create(pendingRecord());
    for (let i = 0; i < 9; i += 1) await store.appendAudit(approvalId, { at: at(i).toISOString(), who: 'sentinel', what: `step-${i}` });

    const names = (await readdir(join(h.dir, approvalId))).sort();
    expect(names).toEqual(['r0000000001.json', 'r0000000007.json', 'r0000000008.json', 'r0000000009.json', 'r0000000010.json']);
    const latest = await store.get(approvalId);
    expect(latest?.revision).toBe(10);
    expect(latest?.audit.at(-1)?.what).toBe('step-8');
  });

  it('of 20 concurrent decisions from two separate processes exactly one decides', async () => {
    const h = await fileHarness();
    const { approvalId } = await h.open().create(pendingRecord());
    const worker = fileURLToPath(new URL('./fixtures/decideWorker.ts', import.meta.url));
    const go = join(h.dir, 'go');

    const run = (name: string) =>
      new Promise<{ results: DecideResult[]; ready: Promise<void> }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', worker, h.dir, approvalId, name, go, at(30).toISOString()], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        let markReady!: () => void;
        const ready = new Promise<void>((r) => (markReady = r));
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('READY\n')) markReady();
        });
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
        child.on('error', reject);
        child.on('close', (code) => {
          clearTimeout(timer);
          const line = out.split('\n').find((l) => l.startsWith('RESULTS '));
          if (code !== 0 || !line) reject(new Error(`worker ${name} exited ${code}: ${err.slice(-2000)}`));
          else resolve({ results: JSON.parse(line.slice('RESULTS '.length)) as DecideResult[], ready });
        });
        // Hand `ready` out before close: both workers must be waiting before we say go.
        readies.push(ready);
      });
    const readies: Promise<void>[] = [];
    const runs = [run('a'), run('b')];
    await Promise.all(readies);
    await writeFile(go, 'go');
    const results = (await Promise.all(runs)).flatMap((r) => r.results);

    expect(results).toHaveLength(20);
    expect(results.filter((r) => r.outcome === 'decided')).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'already-decided')).toHaveLength(19);
    const stored = await h.open().get(approvalId);
    expect(stored?.decision?.by).toHaveLength(1);
    expect(stored?.audit.filter((e) => e.what === 'decided')).toHaveLength(1);
  }, 30_000);
});
