import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../../src/aws/clients.js';
import { recordIncidentAction } from '../../../../src/pipeline/actions/evidence/recordIncident.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { createMotoClients, MOTO_REGION, uniqueName } from '../../../support/aws.js';
import { testDeps, testSettings } from '../../../helpers/deps.js';

let aws: AwsClients;
let bucket: string;

const SHA = 'c'.repeat(64);
const incident = (over: Record<string, unknown> = {}) => ({
  incidentId: 'inc-42',
  executionName: 'falco-0123456789abcdef-1',
  startTime: '2026-11-20T03:14:07.123Z',
  route: 'file-artifact',
  triage: { rule: 'ARTIFACT_WRITE', route: 'file-artifact' },
  actions: [
    {
      action: 'extract-file',
      status: 'succeeded',
      summary: 'stored',
      details: { evidence: { kind: 'file', location: 's3://b/evidence/x', sha256: SHA, size: 12, collector: 'sentinel', collectedAt: '2026-11-20T03:15:00Z', source: { pod: 'p' } } },
    },
  ],
  decisions: [{ decision: 'block', by: 'discord:1234', at: '2026-11-20T03:16:00Z' }],
  ...over,
});

beforeAll(async () => {
  aws = createMotoClients();
  bucket = uniqueName('incidents');
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
});
afterAll(() => destroyAwsClients(aws));

const deps = () => testDeps({ aws, settings: testSettings({ evidenceBucket: bucket }) });
const run = (input: unknown, dryRun = false) => invokeAction(recordIncidentAction, input, { actor: 'stepfunctions:x', incidentId: 'inc-42', dryRun }, deps());

async function readJson(key: string) {
  const r = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await r.Body!.transformToString());
}

describe('record-incident', () => {
  it('writes the incident under incidents/{start}/{execution}.json with a manifest and the decisions', async () => {
    const r = await run(incident());
    expect(r.status).toBe('succeeded');
    const key = 'incidents/2026-11-20T03:14:07.123Z/falco-0123456789abcdef-1.json';
    expect(r.details).toMatchObject({ bucket, key, evidenceCount: 1 });
    const doc = await readJson(key);
    expect(doc).toMatchObject({ schema: 'sentinel.incident/v1', incidentId: 'inc-42', recordedBy: 'stepfunctions:x', decisions: [{ decision: 'block', by: 'discord:1234' }] });
    expect(doc.manifest).toEqual([expect.objectContaining({ location: 's3://b/evidence/x', sha256: SHA, size: 12, collector: 'sentinel' })]);
  });

  it('skips a retry with the same content', async () => {
    const input = incident({ executionName: 'retry-1' });
    expect((await run(input)).status).toBe('succeeded');
    expect((await run(input)).status).toBe('skipped');
  });

  it('replaces the record when the incident has moved on', async () => {
    const first = incident({ executionName: 'grow-1', actions: [] });
    await run(first);
    const r = await run(incident({ executionName: 'grow-1' }));
    expect(r.status).toBe('succeeded');
    expect((await readJson((r.details as { key: string }).key)).actions).toHaveLength(1);
  });

  it('writes nothing on a dry run', async () => {
    const r = await run(incident({ executionName: 'dry-1' }), true);
    expect(r).toMatchObject({ status: 'skipped', details: { dryRun: true } });
    const list = await aws.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'incidents/2026-11-20T03:14:07.123Z/dry-1' }));
    expect(list.KeyCount ?? 0).toBe(0);
  });

  it('refuses bad input without writing', async () => {
    const r = await run(incident({ executionName: 'bad name/../x' }));
    expect(r).toMatchObject({ status: 'failed', details: { error: 'InvalidInput', final: true } });
  });

  it('fails clearly without an evidence bucket', async () => {
    const r = await invokeAction(recordIncidentAction, incident(), { actor: 'a', incidentId: 'i' }, testDeps({ aws }));
    expect(r).toMatchObject({ status: 'failed', summary: expect.stringMatching(/no evidence bucket/) });
  });
});
