/**
 * The local object store beyond the S3 contract (objectStoreContract.ts): what it keeps on disk,
 * the keys it refuses, what it does not serve, conditional writes racing in one process and
 * across processes, a conflict with a delete during an upload, streaming, failed uploads, files
 * changed on disk, and lock files left by dead processes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalObjectStore, LocalObjectStore, type LocalObjectStoreOptions } from '../../src/aws/localObjectStore.js';
import { captureError } from '../support/aws.js';

const BUCKET = 'sentinel-evidence';
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function newStore(options: Omit<LocalObjectStoreOptions, 'root'> = {}): Promise<{ store: LocalObjectStore; dataDir: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sentinel-local-s3-'));
  dirs.push(dataDir);
  return { store: createLocalObjectStore(dataDir, options), dataDir };
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const statusOf = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) if (!e.isDirectory()) out.push(join(e.parentPath, e.name));
  return out;
}

describe('the local object store on disk', () => {
  it('keeps an object at objects/<bucket>/<key> (cat reads it) with its record beside its bytes: ETag, metadata, sha256', async () => {
    const { store, dataDir } = await newStore();
    const key = 'evidence/inc-1/abc/shell.php';
    const body = '<?php system($_GET["c"]); ?>\n';
    const put = await store.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentType: 'application/x-php', Metadata: { sha256: sha256(body), path: '/var/www/html/uploads/shell.php' }, IfNoneMatch: '*' }));

    const path = join(dataDir, 'objects', BUCKET, 'evidence', 'inc-1', 'abc', 'shell.php');
    expect(store.pathOf(BUCKET, key)).toBe(path);
    expect(store.pathOfLocation(`s3://${BUCKET}/${key}`)).toBe(path);
    expect((await lstat(path)).isSymbolicLink()).toBe(true);
    expect(await readFile(path, 'utf8')).toBe(body);
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    const version = (await readlink(path)).split('/').pop()!;
    const record = JSON.parse(await readFile(store.layout.recordPath(BUCKET, version), 'utf8'));
    expect(record).toMatchObject({
      format: 'sentinel.object/v1',
      bucket: BUCKET,
      key,
      etag: put.ETag,
      size: Buffer.byteLength(body),
      contentType: 'application/x-php',
      metadata: { sha256: sha256(body), path: '/var/www/html/uploads/shell.php' },
      sha256: sha256(body),
    });
    expect(await store.describe(BUCKET, key)).toEqual(record);
    // Nothing else was left behind: the link, the bytes, the record; no upload leftovers.
    expect(await readdir(store.layout.tmpDir)).toEqual([]);
    expect((await filesUnder(join(dataDir, 'objects', '.blobs'))).sort()).toEqual([store.layout.blobPath(BUCKET, version), store.layout.recordPath(BUCKET, version)].sort());
  });

  it('replacing an object removes the old version; deleting removes the object, its record and the empty folders', async () => {
    const { store, dataDir } = await newStore();
    await store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'a/b/c.json', Body: 'v1' }));
    await store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'a/b/c.json', Body: 'v2' }));
    expect(await filesUnder(join(dataDir, 'objects', '.blobs'))).toHaveLength(2);
    await store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'a/keep.json', Body: 'k' }));
    await store.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'a/b/c.json' }));
    expect(await filesUnder(join(dataDir, 'objects', '.blobs'))).toHaveLength(2);
    expect(await readdir(join(dataDir, 'objects', BUCKET, 'a'))).toEqual(['keep.json']);
  });

  it('refuses keys a path cannot hold safely, with a 400 naming why, and writes nothing anywhere', async () => {
    const { store, dataDir } = await newStore();
    const cases: Array<[string, RegExp, string]> = [
      ['../escape', /"\.\." path segment/, 'InvalidArgument'],
      ['evidence/../../escape', /"\.\." path segment/, 'InvalidArgument'],
      ['./here', /"\." path segment/, 'InvalidArgument'],
      ['/etc/passwd', /absolute/, 'InvalidArgument'],
      ['a\0b', /NUL/, 'InvalidArgument'],
      ['a//b', /empty path segment/, 'InvalidArgument'],
      ['folder/', /empty path segment/, 'InvalidArgument'],
      [`${'x'.repeat(256)}/y`, /over 255 bytes/, 'InvalidArgument'],
      ['é'.repeat(513), /too long/, 'KeyTooLongError'],
    ];
    for (const [key, why, code] of cases) {
      const err = await captureError(() => store.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'x' })));
      expect(err.name, key).toBe(code);
      expect(err.message, key).toMatch(why);
      expect(statusOf(err), key).toBe(400);
      expect(err).toBeInstanceOf(S3ServiceException);
    }
    expect((await captureError(() => store.send(new GetObjectCommand({ Bucket: 'Not_A_Bucket', Key: 'x' })))).name).toBe('InvalidBucketName');
    expect((await captureError(() => store.send(new GetObjectCommand({ Bucket: '.blobs', Key: 'x' })))).name).toBe('InvalidBucketName');
    expect(await filesUnder(dataDir)).toEqual([]);
    expect(await readdir(join(dataDir, '..')).then((names) => names.includes('escape'))).toBe(false);
  });

  it('refuses a key that would be the folder of another key, or inside another key, and keeps the first', async () => {
    const { store } = await newStore();
    await store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'blocks/10.0.0.1', Body: 'file' }));
    const inside = await captureError(() => store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'blocks/10.0.0.1/acl-1/100.json', Body: 'x' })));
    expect(inside.name).toBe('InvalidArgument');
    expect(inside.message).toMatch(/cannot also be the folder of other keys/);
    await store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'blocks/10.0.0.2/acl-1/100.json', Body: 'x' }));
    const folder = await captureError(() => store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'blocks/10.0.0.2', Body: 'y' })));
    expect(folder.name).toBe('InvalidArgument');
    // A folder is not an object: reading it is 404, deleting it changes nothing.
    expect((await captureError(() => store.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'blocks/10.0.0.2' })))).name).toBe('NotFound');
    await store.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'blocks/10.0.0.2' }));
    const listed = await store.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'blocks/' }));
    expect(listed.Contents?.map((c) => c.Key)).toEqual(['blocks/10.0.0.1', 'blocks/10.0.0.2/acl-1/100.json']);
    expect(await (await store.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'blocks/10.0.0.1' }))).Body!.transformToString()).toBe('file');
  });

  it('refuses any other command, and parameters it does not implement, by name (501 NotImplemented)', async () => {
    const { store } = await newStore();
    const other = await captureError(() => store.send(new CreateBucketCommand({ Bucket: BUCKET }) as never));
    expect(other.name).toBe('NotImplemented');
    expect(statusOf(other)).toBe(501);
    expect(other.message).toMatch(/does not serve CreateBucketCommand: it serves only PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects, ListObjectsV2/);
    const range = await captureError(() => store.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'k', Range: 'bytes=0-1' })));
    expect(range.message).toMatch(/does not implement Range on GetObject/);
    const delimiter = await captureError(() => store.send(new ListObjectsV2Command({ Bucket: BUCKET, Delimiter: '/' })));
    expect(delimiter.message).toMatch(/does not implement Delimiter on ListObjectsV2/);
    const etagNoneMatch = await captureError(() => store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'k', Body: 'x', IfNoneMatch: '"abc"' })));
    expect(etagNoneMatch.name).toBe('NotImplemented');
    // An action that reads the client's configuration (the region) needs AWS itself.
    expect(() => (store as unknown as { config: unknown }).config).toThrow(/AWS is not configured \(no S3 client\)/);
  });

  it('a data directory it cannot use is a 500 InternalError naming it, on every call (not a crash)', async () => {
    const { dataDir } = await newStore();
    await writeFile(join(dataDir, 'not-a-dir'), '');
    const store = new LocalObjectStore({ root: join(dataDir, 'not-a-dir', 'objects') });
    for (let i = 0; i < 2; i++) {
      const err = await captureError(() => store.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'k' })));
      expect(err.name).toBe('InternalError');
      expect(statusOf(err)).toBe(500);
      expect(err.message).toContain(`cannot use ${join(dataDir, 'not-a-dir', 'objects')}`);
    }
  });

  it('checks the bytes against their record on every read: a file changed on disk fails the read, small or streamed', async () => {
    const { store } = await newStore();
    await store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'small.txt', Body: 'original' }));
    await writeFile(store.pathOf(BUCKET, 'small.txt'), 'tampered');
    const small = await captureError(() => store.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'small.txt' })));
    expect(small.name).toBe('InternalError');
    expect(small.message).toMatch(/do not match their recorded SHA-256: the file was changed on disk/);

    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    await store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'big.bin', Body: big }));
    const path = store.pathOf(BUCKET, 'big.bin');
    const copy = Buffer.from(big);
    copy[copy.length - 1] = 8;
    await writeFile(path, copy);
    const out = await store.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'big.bin' }));
    await expect(out.Body!.transformToByteArray()).rejects.toThrow(/do not match their recorded SHA-256/);

    // A link aimed outside the store is damage, and is never followed.
    await unlink(store.pathOf(BUCKET, 'small.txt'));
    await symlink('/etc/passwd', store.pathOf(BUCKET, 'small.txt'));
    const outside = await captureError(() => store.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'small.txt' })));
    expect(outside.name).toBe('InternalError');
    expect(outside.message).toMatch(/points outside the store/);
  });
});

describe('the local object store writing', () => {
  it('streams a body to disk as it arrives (the upload file grows while the body is still being produced)', async () => {
    const { store } = await newStore();
    const chunk = Buffer.alloc(256 * 1024, 1);
    const seen: number[] = [];
    async function* body() {
      for (let i = 0; i < 8; i++) {
        const uploads = await readdir(store.layout.tmpDir);
        seen.push(uploads.length ? (await stat(join(store.layout.tmpDir, uploads[0]!))).size : -1);
        yield chunk;
      }
    }
    await store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'stream.bin', Body: Readable.from(body()), ContentLength: 8 * chunk.length }));
    // A Readable reads a chunk or so ahead; still, the bytes before it are on disk already.
    seen.forEach((size, i) => expect(size, `when chunk ${i} was produced`).toBeGreaterThanOrEqual((i - 2) * chunk.length));
    expect(seen[7]).toBeGreaterThanOrEqual(5 * chunk.length);
    expect((await store.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'stream.bin' }))).ContentLength).toBe(8 * chunk.length);
  });

  it('a body that fails midway, or is shorter than its ContentLength, stores nothing and leaves nothing', async () => {
    const { store, dataDir } = await newStore();
    async function* failing() {
      yield Buffer.alloc(1000, 1);
      throw new Error('the pod went away');
    }
    await expect(store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'cut.bin', Body: Readable.from(failing()) }))).rejects.toThrow(/the pod went away/);
    const short = await captureError(() => store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'short.bin', Body: 'abc', ContentLength: 10 })));
    expect(short.name).toBe('IncompleteBody');
    expect(await filesUnder(join(dataDir, 'objects', BUCKET))).toEqual([]);
    expect(await filesUnder(join(dataDir, 'objects', '.blobs'))).toEqual([]);
    expect(await readdir(store.layout.tmpDir)).toEqual([]);
  });

  it('conditional writes racing in one process: one IfNoneMatch create wins, one IfMatch replace of a version wins', async () => {
    const { store } = await newStore();
    const creates = await Promise.allSettled(Array.from({ length: 25 }, (_, i) => store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'race', Body: `c${i}`, IfNoneMatch: '*' }))));
    expect(creates.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(creates.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.name)).toEqual(Array(24).fill('PreconditionFailed'));
    const { ETag } = await store.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'race' }));
    const replaces = await Promise.allSettled(Array.from({ length: 25 }, (_, i) => store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'race', Body: `r${i}`, IfMatch: ETag }))));
    const won = replaces.flatMap((r, i) => (r.status === 'fulfilled' ? [`r${i}`] : []));
    expect(won).toHaveLength(1);
    expect(await (await store.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'race' }))).Body!.transformToString()).toBe(won[0]);
  });

  it('conditional writes racing across processes (lock files): one create wins, and no increment of a counter is lost', async () => {
    const { store, dataDir } = await newStore();
    await store.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'warm-up' })).catch(() => undefined);
    const worker = fileURLToPath(new URL('./support/objectStoreWorker.ts', import.meta.url));
    const workers = 4;
    const increments = 15;
    const runs = Array.from({ length: workers }, (_, id) => {
      const child = spawn(process.execPath, ['--import', 'tsx', worker, dataDir, BUCKET, String(id), String(increments)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      return new Promise<{ once: string; retries: number }>((resolve, reject) => {
        child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim())) : reject(new Error(`worker ${id} exited ${code}: ${err}`))));
      });
    });
    // Give every worker time to start, then let them race.
    await new Promise((r) => setTimeout(r, 1500));
    await writeFile(join(dataDir, 'go'), '');
    const results = await Promise.all(runs);
    expect(results.filter((r) => r.once === 'won')).toHaveLength(1);
    const counter = await store.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'race/counter' }));
    expect(Number(await counter.Body!.transformToString())).toBe(workers * increments);
    expect(await readdir(store.layout.tmpDir)).toEqual([]);
  }, 120_000);

  it('IfMatch whose object is deleted while its body is written is 409 ConditionalRequestConflict (as S3), and stores nothing', async () => {
    const { store } = await newStore();
    const { ETag } = await store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'window.json', Body: '{"entries":[]}' }));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const writing = new Promise<void>((r) => (started = r));
    async function* body() {
      yield Buffer.from('{"entries":');
      started();
      await gate;
      yield Buffer.from('[1]}');
    }
    const put = store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'window.json', Body: Readable.from(body()), IfMatch: ETag }));
    await writing;
    await store.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'window.json' }));
    release();
    const err = await captureError(() => put);
    expect(err.name).toBe('ConditionalRequestConflict');
    expect(statusOf(err)).toBe(409);
    expect((await captureError(() => store.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'window.json' })))).name).toBe('NotFound');
  });

  it("takes over a key's lock left by a process that is gone; waits for a live holder, then answers 503 SlowDown naming it", async () => {
    const { store } = await newStore({ lockWaitMs: 300 });
    await store.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'x' })).catch(() => undefined);
    const lockPath = (key: string) => {
      const id = createHash('sha256').update(BUCKET).update('\0').update(key).digest('hex');
      return join(store.layout.locksDir, id.slice(0, 2), id);
    };
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    await mkdir(join(lockPath('gone'), '..'), { recursive: true });
    await writeFile(lockPath('gone'), JSON.stringify({ host: hostname(), pid: dead, started: '1', token: 'dead' }));
    await store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'gone', Body: 'taken over', IfNoneMatch: '*' }));
    await expect(stat(lockPath('gone'))).rejects.toThrow(/ENOENT/);

    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const started = (await readFile(`/proc/${sleeper.pid}/stat`, 'utf8')).split(') ')[1]!.split(' ')[19]!;
      await mkdir(join(lockPath('held'), '..'), { recursive: true });
      await writeFile(lockPath('held'), JSON.stringify({ host: hostname(), pid: sleeper.pid, started, token: 'live' }));
      const err = await captureError(() => store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'held', Body: 'x' })));
      expect(err.name).toBe('SlowDown');
      expect(statusOf(err)).toBe(503);
      expect(err.message).toContain(`process ${sleeper.pid} on ${hostname()} holds ${lockPath('held')}`);
      // A pid reused by another process (another start time) does not hold the lock.
      await writeFile(lockPath('held'), JSON.stringify({ host: hostname(), pid: sleeper.pid, started: `${started}0`, token: 'reused' }));
      await store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'held', Body: 'x' }));
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('closes a streamed body nobody reads (as S3 closes an idle connection)', async () => {
    const { store } = await newStore({ idleBodyMs: 50 });
    await store.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'unread.bin', Body: Buffer.alloc(2 * 1024 * 1024, 3) }));
    const out = await store.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'unread.bin' }));
    await new Promise((r) => setTimeout(r, 300));
    expect((out.Body as Readable).destroyed).toBe(true);
  });
});
