/**
 * Evidence facts in embedded mode (the local object store): after /evidence collect, the reply
 * gives the stored file's sha256, size and path on the bot's host, and no link; /evidence show
 * turns the record's and each evidence item's s3:// location into its path. With an S3 client,
 * the presigned link and the s3:// locations stay as they were.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalObjectStore, localS3Client, type LocalObjectStore } from '../../../src/aws/localObjectStore.js';
import { evidenceView, presignEvidence } from '../../../src/handlers/commands/presignEvidence.js';
import type { HandlerContext } from '../../../src/handlers/context.js';
import { createSilentLogger } from '../../../src/logger.js';
import type { IncidentRecord } from '../../../src/pipeline/incident/incidentRecord.js';

const BUCKET = 'sentinel-evidence';
const SHA = 'ab'.repeat(32);
const KEY = `evidence/inc-1/${SHA}/shell.php`;
let dataDir: string;
let store: LocalObjectStore;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sentinel-evidence-facts-'));
  store = createLocalObjectStore(dataDir);
  await store.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: 'x', Metadata: { sha256: SHA } }));
});
afterAll(() => rm(dataDir, { recursive: true, force: true }));

/** The two things presignEvidence reads from the handler context. */
const ctxWith = (s3: unknown) => ({ actionDeps: { aws: { s3 } }, logger: createSilentLogger() }) as unknown as HandlerContext;
const extracted = { status: 'succeeded' as const, summary: 'stored', details: { bucket: BUCKET, key: KEY, sha256: SHA, size: 1 } };

describe('evidence facts', () => {
  it('embedded mode: sha256, size and the path on the bot’s host; no link, nothing served', async () => {
    const facts = await presignEvidence(extracted, ctxWith(localS3Client(store)));
    const path = join(dataDir, 'objects', BUCKET, 'evidence', 'inc-1', SHA, 'shell.php');
    expect(facts).toEqual({ facts: `sha256 \`${SHA}\`, 1 bytes, stored on the bot's host at \`${path}\``, path });
    expect(await readFile(facts.path!, 'utf8')).toBe('x');
  });

  it('with S3: a presigned link, as before', async () => {
    const s3 = new S3Client({ region: 'ap-northeast-2', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' } });
    const facts = await presignEvidence(extracted, ctxWith(s3));
    expect(facts.facts).toBe(`sha256 \`${SHA}\`, 1 bytes`);
    expect(facts.link).toMatch(/^https:\/\/sentinel-evidence\.s3\.ap-northeast-2\.amazonaws\.com\/evidence\/inc-1\/.*X-Amz-Expires=900/);
    expect(facts).not.toHaveProperty('path');
    s3.destroy();
  });

  it('/evidence show in embedded mode: the record and each evidence item at their local paths, hashes and sizes kept', () => {
    const record = {
      incidentId: 'inc-1',
      manifest: [{ kind: 'file', location: `s3://${BUCKET}/${KEY}`, sha256: SHA, size: 1, collector: 'sentinel', collectedAt: '2026-11-20T03:15:00Z', source: {} }],
    } as unknown as IncidentRecord;
    const found = { record, location: `s3://${BUCKET}/incidents/2026-11-20T03:14:07.123Z/falco-1.json` };
    const view = evidenceView(found, localS3Client(store));
    expect(view.location).toBe(join(dataDir, 'objects', BUCKET, 'incidents', '2026-11-20T03:14:07.123Z', 'falco-1.json'));
    expect(view.record.manifest).toEqual([{ ...record.manifest[0], location: join(dataDir, 'objects', BUCKET, 'evidence', 'inc-1', SHA, 'shell.php') }]);
    expect(evidenceView(found, new S3Client({ region: 'ap-northeast-2' }))).toBe(found);
  });
});
