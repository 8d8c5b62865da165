/**
 * The dead-letter record stores: files under the data directory, and objects in the evidence
 * bucket (moto). The same contract for both: replace, forget, hide and prune what is older than
 * the DLQ's retention, never keep a token or a secret.
 */
import { mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../src/aws/clients.js';
import { createDeadLetterStore } from '../../src/stores/createDeadLetterStore.js';
import { DEAD_LETTER_REASON_MAX, DEAD_LETTER_RETENTION_MS, type DeadLetterRecord, type DeadLetterStore } from '../../src/stores/deadLetterStore.js';
import { FileDeadLetterStore } from '../../src/stores/fileDeadLetterStore.js';
import { S3DeadLetterStore } from '../../src/stores/s3DeadLetterStore.js';
import { createMotoClients, MOTO_REGION, uniqueName } from '../support/aws.js';

let aws: AwsClients;
let bucket: string;
let dir: string;
beforeAll(async () => {
  aws = createMotoClients();
  bucket = uniqueName('dead-letters');
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
  dir = await mkdtemp(join(tmpdir(), 'sentinel-dead-letters-'));
});
afterAll(async () => {
  destroyAwsClients(aws);
  await rm(dir, { recursive: true, force: true });
});

const SECRET = 'discord-token-value-1234567890';
const TASK_TOKEN = `AQB${'x9Y'.repeat(100)}`;
const ids = { a: '0b6f2a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b', b: '7c8d9e0f-1a2b-4c3d-9e8f-7a6b5c4d3e2f' };

function record(over: Partial<DeadLetterRecord> = {}): DeadLetterRecord {
  return { messageId: ids.a, queue: 'control', kind: 'task', receiveCount: 1, reason: 'SendTaskHeartbeat failed: throttled', at: new Date().toISOString(), ...over };
}

/** A store on `place` (a fresh one by default), with an optional clock. */
type Make = (place?: string, now?: () => Date) => DeadLetterStore;
const stores: [string, Make][] = [
  ['file', (place = uniqueName('store'), now) => new FileDeadLetterStore({ dir: join(dir, place), secrets: [SECRET], fsync: false, ...(now ? { now } : {}) })],
  ['s3', (place = uniqueName('store'), now) => new S3DeadLetterStore({ s3: aws.s3, bucket, prefix: `${place}/`, secrets: [SECRET], ...(now ? { now } : {}) })],
];

describe.each(stores)('%s dead-letter store', (_kind, make) => {
  it("keeps a message's last failure: a new one replaces it, forget deletes it, and forgetting nothing is fine", async () => {
    const store = make();
    expect(await store.get(ids.a)).toBeUndefined();
    await store.record(record());
    expect(await store.get(ids.a)).toEqual(record({ at: (await store.get(ids.a))!.at }));
    const later = record({ receiveCount: 2, reason: 'Discord answered 503', kind: 'report' });
    await store.record(later);
    expect(await store.get(ids.a)).toEqual(later);
    await store.record(record({ messageId: ids.b, queue: 'intake', kind: 'event', at: new Date(Date.now() - 1000).toISOString() }));
    expect((await store.list()).map((r) => r.messageId)).toEqual([ids.b, ids.a]);
    await store.forget(ids.a);
    await store.forget(ids.a);
    expect(await store.get(ids.a)).toBeUndefined();
    expect((await store.list()).map((r) => r.messageId)).toEqual([ids.b]);
  });

  it('masks secrets and tokens, flattens control characters and cuts long reasons', async () => {
    const store = make();
    await store.record(record({ reason: `bad token ${TASK_TOKEN} with ${SECRET}\nand a second line\u0007` }));
    const got = (await store.get(ids.a))!;
    expect(got.reason).toBe('bad token [REDACTED] with [REDACTED] and a second line');
    await store.record(record({ reason: 'word '.repeat(DEAD_LETTER_REASON_MAX) }));
    const long = (await store.get(ids.a))!.reason;
    expect(long).toHaveLength(DEAD_LETTER_REASON_MAX);
    expect(long.endsWith('…')).toBe(true);
  });

  it('refuses an id that is not a plain name, and a record that does not fit', async () => {
    const store = make();
    await expect(store.record(record({ messageId: '../../etc/passwd' }))).rejects.toThrow(/Invalid dead-letter record: messageId/);
    await expect(store.record(record({ queue: 'other' as 'intake' }))).rejects.toThrow(/Invalid dead-letter record: queue/);
    await expect(store.record({ ...record(), body: '{"taskToken":"x"}' } as DeadLetterRecord)).rejects.toThrow(/Invalid dead-letter record/);
    expect(await store.get('../../etc/passwd')).toBeUndefined();
    await store.forget('../../etc/passwd');
  });

  it('hides records older than the DLQ retention', async () => {
    const place = uniqueName('store');
    await make(place).record(record());
    expect(await make(place).get(ids.a)).toBeDefined();
    // Seen from 14 days and a minute later, the record is past the DLQ's retention.
    const later = make(place, () => new Date(Date.now() + DEAD_LETTER_RETENTION_MS + 60_000));
    expect(await later.get(ids.a)).toBeUndefined();
    expect(await later.list()).toEqual([]);
  });
});

describe('file dead-letter store', () => {
  it('writes whole files, mode 0600, hides and prunes what is older than the retention, and skips unreadable files', async () => {
    const where = join(dir, uniqueName('prune'));
    const warnings: unknown[] = [];
    const store = new FileDeadLetterStore({ dir: where, fsync: false, logger: { warn: (...args) => warnings.push(args) } });
    await store.record(record({ messageId: ids.a }));
    await store.record(record({ messageId: ids.b }));
    expect((await stat(join(where, `${ids.a}.json`))).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(join(where, `${ids.a}.json`), 'utf8'))).toMatchObject({ messageId: ids.a });
    await writeFile(join(where, 'cafe-0001.json'), '{ not json');
    expect((await store.list()).map((r) => r.messageId).sort()).toEqual([ids.a, ids.b].sort());
    expect(JSON.stringify(warnings)).toContain('cafe-0001.json');

    // Seen 15 days on, both records are past the retention: hidden, then deleted by prune.
    const future = new FileDeadLetterStore({ dir: where, fsync: false, now: () => new Date(Date.now() + DEAD_LETTER_RETENTION_MS + 86_400_000) });
    expect(await future.get(ids.a)).toBeUndefined();
    expect(await future.list()).toEqual([]);
    // prune goes by when a file was last written: one of them is made old.
    const old = new Date(Date.now() - DEAD_LETTER_RETENTION_MS - 60_000);
    await utimes(join(where, `${ids.a}.json`), old, old);
    expect(await store.prune()).toBe(1);
    expect((await readdir(where)).sort()).toEqual([`${ids.b}.json`, 'cafe-0001.json'].sort());
    expect(await store.get(ids.b)).toBeDefined();
  });
});

describe('S3 dead-letter store', () => {
  it('keeps one object per message under its prefix and prunes what was written before the retention', async () => {
    const prefix = `${uniqueName('sentinel/dead-letters')}/`;
    const store = new S3DeadLetterStore({ s3: aws.s3, bucket, prefix });
    expect(store.location).toBe(`s3://${bucket}/${prefix}`);
    await store.record(record({ messageId: ids.a }));
    await store.record(record({ messageId: ids.b }));
    const keys = async () => ((await aws.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map((o) => o.Key).sort();
    expect(await keys()).toEqual([`${prefix}${ids.a}.json`, `${prefix}${ids.b}.json`].sort());
    expect(await store.prune()).toBe(0);
    const future = new S3DeadLetterStore({ s3: aws.s3, bucket, prefix, now: () => new Date(Date.now() + DEAD_LETTER_RETENTION_MS + 86_400_000) });
    expect(await future.list()).toEqual([]);
    expect(await future.prune()).toBe(2);
    expect(await keys()).toEqual([]);
  });

  it('is what the bot and the CLI use with SENTINEL_APPROVAL_STORE=s3, and needs the evidence bucket', () => {
    const s3 = createDeadLetterStore({ kind: 's3', dataDir: dir, bucket, s3: aws.s3 });
    expect(s3.location).toBe(`s3://${bucket}/sentinel/dead-letters/`);
    expect(() => createDeadLetterStore({ kind: 's3', dataDir: dir, bucket: undefined, s3: aws.s3 })).toThrow(/SENTINEL_EVIDENCE_BUCKET/);
    expect(createDeadLetterStore({ kind: 'file', dataDir: dir, bucket, s3: aws.s3 }).location).toBe(join(dir, 'dead-letters'));
  });
});
