/**
 * add-malicious-ip against moto S3 (conditional writes: If-None-Match on create, If-Match on
 * update, both supported by moto 5.2.5), plus one aws-sdk-client-mock test for S3's
 * 409 ConditionalRequestConflict, which moto never answers.
 */
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAwsClients, destroyAwsClients, type AwsClients } from '../../../../src/aws/clients.js';
import { loadConfig, type PipelineSettings } from '../../../../src/config.js';
import { createSilentLogger } from '../../../../src/logger.js';
import {
  addMaliciousIp,
  addMaliciousIpAction,
  MALICIOUS_IPS_KEY,
  mergeMaliciousIp,
  readMaliciousIps,
  type AddMaliciousIpDetails,
} from '../../../../src/pipeline/actions/forensics/addMaliciousIp.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { captureError, createMotoClients, MOTO_REGION, uniqueName } from '../../../support/aws.js';

let aws: AwsClients;
beforeAll(() => {
  aws = createMotoClients();
});
afterAll(() => destroyAwsClients(aws));

const ACTOR = 'discord:123456789012345678';
let clock = Date.parse('2025-05-21T14:50:00Z');

function deps(bucket: string, settings: Partial<PipelineSettings> = {}, s3?: S3Client): ActionDeps {
  return {
    aws: { s3: s3 ?? aws.s3 },
    settings: { ...loadConfig({ env: {}, envFile: false }).pipeline, evidenceBucket: bucket, ...settings },
    logger: createSilentLogger(),
    now: () => new Date((clock += 1000)),
  };
}

async function newBucket(): Promise<string> {
  const bucket = uniqueName('intel');
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
  return bucket;
}

async function rawList(bucket: string): Promise<string> {
  const out = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: MALICIOUS_IPS_KEY }));
  return out.Body!.transformToString();
}

const run = (bucket: string, input: Record<string, unknown>, incidentId = 'inc-1', extra: { dryRun?: boolean; settings?: Partial<PipelineSettings> } = {}) =>
  invokeAction(addMaliciousIpAction, input, { actor: ACTOR, incidentId, ...(extra.dryRun ? { dryRun: true } : {}) }, deps(bucket, extra.settings));

describe('add-malicious-ip on moto S3', () => {
  it('creates the list with the first entry, as pretty JSON people can read, and the block action can read it back', async () => {
    const bucket = await newBucket();
    const result = await run(bucket, { ip: '203.0.113.45', findingId: 'gd-7e3a', source: 'guardduty', firstSeen: '2025-05-21T14:03:44Z', lastSeen: '2025-05-21T14:49:00Z' });
    expect(result.status).toBe('succeeded');
    const d = result.details as AddMaliciousIpDetails;
    expect(d).toMatchObject({ ip: '203.0.113.45', change: 'added', entries: 1, attempts: 1, location: `s3://${bucket}/${MALICIOUS_IPS_KEY}` });

    const text = await rawList(bucket);
    expect(text).toContain('\n  "entries": [\n');
    expect(text.endsWith('\n')).toBe(true);
    const list = await readMaliciousIps(aws.s3, bucket);
    expect(list.entries).toEqual([
      {
        ip: '203.0.113.45',
        firstSeen: '2025-05-21T14:03:44.000Z',
        lastSeen: '2025-05-21T14:49:00.000Z',
        sources: ['guardduty'],
        findingIds: ['gd-7e3a'],
        incidentIds: ['inc-1'],
        addedBy: ACTOR,
        addedAt: d.entry.addedAt,
        updatedAt: d.entry.addedAt,
      },
    ]);
  });

  it('is idempotent: the same add changes nothing; a later sighting widens the entry instead of duplicating it', async () => {
    const bucket = await newBucket();
    const first = { ip: '198.51.100.77', source: 'guardduty', firstSeen: '2025-05-21T14:02:11Z', lastSeen: '2025-05-21T14:12:30Z' };
    expect((await run(bucket, first)).status).toBe('succeeded');
    const before = await rawList(bucket);

    const again = await run(bucket, first);
    expect(again.status).toBe('skipped');
    expect((again.details as AddMaliciousIpDetails).change).toBe('unchanged');
    expect(await rawList(bucket)).toBe(before);

    const later = await run(bucket, { ip: '198.51.100.77', source: 'analysis', findingId: 'gd-9', firstSeen: '2025-05-21T13:59:00Z', lastSeen: '2025-05-21T14:44:18Z' }, 'inc-2');
    expect(later.status).toBe('succeeded');
    const list = await readMaliciousIps(aws.s3, bucket);
    expect(list.entries).toHaveLength(1);
    expect(list.entries[0]).toMatchObject({
      ip: '198.51.100.77',
      firstSeen: '2025-05-21T13:59:00.000Z',
      lastSeen: '2025-05-21T14:44:18.000Z',
      sources: ['guardduty', 'analysis'],
      findingIds: ['gd-9'],
      incidentIds: ['inc-1', 'inc-2'],
    });
    // An older sighting never moves lastSeen back.
    await run(bucket, { ip: '198.51.100.77', source: 'analysis', lastSeen: '2025-05-21T14:00:00Z' }, 'inc-2');
    expect((await readMaliciousIps(aws.s3, bucket)).entries[0]!.lastSeen).toBe('2025-05-21T14:44:18.000Z');
  });

  it('keeps IPs in canonical form and sorted, so one address has one entry', async () => {
    const bucket = await newBucket();
    await run(bucket, { ip: '2001:DB8:0:0::45', source: 'falco' });
    await run(bucket, { ip: '2001:db8::45', source: 'guardduty' });
    await run(bucket, { ip: '::ffff:198.51.100.9', source: 'falco' });
    await run(bucket, { ip: '192.0.2.200', source: 'falco' });
    const list = await readMaliciousIps(aws.s3, bucket);
    expect(list.entries.map((e) => [e.ip, e.sources])).toEqual([
      ['192.0.2.200', ['falco']],
      ['198.51.100.9', ['falco']],
      ['2001:db8::45', ['falco', 'guardduty']],
    ]);
  });

  it('keeps both entries when two adds race (If-None-Match on create, If-Match on update, retry on 412)', async () => {
    const bucket = await newBucket();
    const ips = ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4', '198.51.100.5', '198.51.100.6'];
    const results = await Promise.all(ips.map((ip, i) => addMaliciousIp({ input: { ip, source: `s${i}` }, actor: ACTOR, incidentId: 'inc-race' }, deps(bucket), { sleep: async () => {} })));
    expect(results.map((r) => r.status)).toEqual(ips.map(() => 'succeeded'));
    // At least one writer lost a race and had to read and merge again.
    expect(Math.max(...results.map((r) => r.details.attempts))).toBeGreaterThan(1);
    expect((await readMaliciousIps(aws.s3, bucket)).entries.map((e) => e.ip)).toEqual(ips);

    // The same IP from several sources at once: one entry holding every source.
    const same = await Promise.all(['guardduty', 'falco', 'analysis'].map((source) => addMaliciousIp({ input: { ip: '203.0.113.45', source }, actor: ACTOR, incidentId: 'inc-race' }, deps(bucket), { sleep: async () => {} })));
    expect(same.filter((r) => r.details.change === 'added')).toHaveLength(1);
    const entry = (await readMaliciousIps(aws.s3, bucket)).entries.find((e) => e.ip === '203.0.113.45')!;
    expect([...entry.sources].sort()).toEqual(['analysis', 'falco', 'guardduty']);
  });

  it('refuses private, special and allowlisted addresses before touching the list', async () => {
    const bucket = await newBucket();
    // Also the NAT64, 6to4 and Teredo forms of private addresses, and AWS's own service ranges (Route 53 here).
    for (const ip of ['10.0.2.15', '169.254.169.254', '127.0.0.1', '::1', '::ffff:10.0.0.1', 'fd00:ec2::254', '100.64.1.1', '224.0.0.1', '64:ff9b::a00:1', '2002:a00:1::', '2001:0:4136:e378:8000:63bf:f5ff:fffe', '52.95.110.1']) {
      const result = await run(bucket, { ip, source: 'guardduty' });
      expect(result.status, ip).toBe('failed');
      expect(result.details, ip).toEqual({ error: 'ProtectedAddress', final: true });
    }
    expect((await run(bucket, { ip: '52.95.110.1' })).summary).toMatch(/refusing to list 52\.95\.110\.1 as malicious: 52\.95\.110\.1 is in AWS's published range 52\.95\.110\.0\/24 \(ROUTE53, AMAZON; GLOBAL\)/);
    const allowlisted = await run(bucket, { ip: '198.51.100.10' }, 'inc-1', { settings: { egressAllowlist: ['198.51.100.0/24'] } });
    expect(allowlisted.summary).toMatch(/egress allowlist/);
    const err = await captureError(() => aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: MALICIOUS_IPS_KEY })));
    expect(err.name).toBe('NoSuchKey');
  });

  it('validates its input', async () => {
    const bucket = await newBucket();
    for (const input of [{ ip: 'not-an-ip' }, { ip: '203.0.113.45', source: 'bad source!' }, { ip: '203.0.113.45', firstSeen: '2025-05-21T15:00:00Z', lastSeen: '2025-05-21T14:00:00Z' }, { ip: '203.0.113.45', extra: 1 }]) {
      const result = await run(bucket, input);
      expect(result.details, JSON.stringify(input)).toEqual({ error: 'InvalidInput', final: true });
    }
  });

  it('dry run reports the change and writes nothing', async () => {
    const bucket = await newBucket();
    const result = await run(bucket, { ip: '203.0.113.45', source: 'guardduty' }, 'inc-1', { dryRun: true });
    expect(result.status).toBe('skipped');
    expect(result.details).toMatchObject({ dryRun: true, change: 'added', ip: '203.0.113.45' });
    expect((await captureError(() => aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: MALICIOUS_IPS_KEY })))).name).toBe('NoSuchKey');
    expect((await readMaliciousIps(aws.s3, bucket)).entries).toEqual([]);
  });

  it('never overwrites a list it cannot read', async () => {
    const bucket = await newBucket();
    await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: MALICIOUS_IPS_KEY, Body: '{"version":1,"entries":"oops"}' }));
    const result = await run(bucket, { ip: '203.0.113.45' });
    expect(result.details).toEqual({ error: 'InvalidMaliciousIpList', final: true });
    expect(await rawList(bucket)).toBe('{"version":1,"entries":"oops"}');
  });
});

describe('add-malicious-ip with aws-sdk-client-mock (what moto does not answer)', () => {
  const clients = createAwsClients({ region: 'ap-northeast-2', credentials: { accessKeyId: 'unit', secretAccessKey: 'unit' } });
  const s3 = mockClient(clients.s3);
  afterAll(() => {
    s3.restore();
    destroyAwsClients(clients);
  });

  it('retries after S3 409 ConditionalRequestConflict (two conditional writes at once) and then uses If-Match', async () => {
    const existing = mergeMaliciousIp(undefined, { ip: '198.51.100.77', firstSeen: '2025-05-21T14:00:00.000Z', lastSeen: '2025-05-21T14:00:00.000Z', source: 'guardduty', findingId: undefined, incidentId: 'inc-0', actor: ACTOR, at: '2025-05-21T14:00:00.000Z' }).list;
    s3.on(GetObjectCommand).callsFake(() => ({ ETag: '"etag-1"', Body: { transformToString: async () => JSON.stringify(existing) } }));
    s3.on(PutObjectCommand)
      .rejectsOnce(new S3ServiceException({ name: 'ConditionalRequestConflict', $fault: 'client', $metadata: { httpStatusCode: 409 }, message: 'A conflicting conditional operation is currently in progress against this resource.' }))
      .resolves({ ETag: '"etag-2"' });
    const slept: number[] = [];
    const result = await addMaliciousIp({ input: { ip: '203.0.113.45', source: 'falco' }, actor: ACTOR, incidentId: 'inc-1' }, deps('unit-bucket', {}, clients.s3), { sleep: async (ms) => void slept.push(ms) });
    expect(result.status).toBe('succeeded');
    expect(result.details.attempts).toBe(2);
    expect(slept).toHaveLength(1);
    const puts = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => [p.IfMatch, p.IfNoneMatch])).toEqual([
      ['"etag-1"', undefined],
      ['"etag-1"', undefined],
    ]);
    expect(JSON.parse(String(puts[1]!.Body)).entries.map((e: { ip: string }) => e.ip)).toEqual(['198.51.100.77', '203.0.113.45']);
  });

  it('gives up with a conflict after a bounded number of attempts', async () => {
    s3.reset();
    s3.on(GetObjectCommand).rejects(Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } }));
    s3.on(PutObjectCommand).rejects(Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), { name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } }));
    const err = await captureError(() => addMaliciousIp({ input: { ip: '203.0.113.45', source: 'falco' }, actor: ACTOR, incidentId: 'inc-1' }, deps('unit-bucket', {}, clients.s3), { sleep: async () => {} }));
    expect(err.name).toBe('ConflictError');
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(8);
    expect(s3.commandCalls(PutObjectCommand).every((c) => c.args[0].input.IfNoneMatch === '*')).toBe(true);
  });
});
