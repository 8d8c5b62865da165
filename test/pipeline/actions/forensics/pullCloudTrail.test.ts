/**
 * pull-cloudtrail. moto 5.2.5 does not implement CloudTrail LookupEvents (it answers HTTP 500
 * with an HTML page; pinned below), so LookupEvents is covered with aws-sdk-client-mock serving
 * the fixture test/fixtures/forensics/attack/cloudtrail/lookup-events.json (real LookupEvents
 * shape) page by page, by region (IAM events only in us-east-1, as on AWS) and by lookup
 * attribute. The mock is on the CloudTrailClient class, so the us-east-1 client the action
 * derives from the configured one is mocked too. Evidence goes to moto S3.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudTrailClient, LookupEventsCommand, type Event as TrailEvent, type LookupEventsCommandInput } from '@aws-sdk/client-cloudtrail';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAwsClients, destroyAwsClients, type AwsClients } from '../../../../src/aws/clients.js';
import { loadConfig } from '../../../../src/config.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { cloudTrailClientFor, pullCloudTrail, pullCloudTrailAction, type PullCloudTrailDetails } from '../../../../src/pipeline/actions/forensics/pullCloudTrail.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { captureError, createMotoClients, MOTO_REGION, motoSettings, uniqueName } from '../../../support/aws.js';

const FIXTURE = join(import.meta.dirname, '../../../fixtures/forensics/attack/cloudtrail/lookup-events.json');
const INSTANCE = 'i-0a1b2c3d4e5f60718';
const ACTOR = 'stepfunctions:forensics-exec-1';
const WINDOW = { since: '2025-05-21T13:30:00Z', until: '2025-05-21T15:00:00Z' };

interface FixtureEvent {
  EventId: string;
  EventName: string;
  EventTime: string;
  EventSource: string;
  AccessKeyId: string;
  Username: string;
  CloudTrailEvent: string;
}
const FIXTURE_EVENTS = (JSON.parse(readFileSync(FIXTURE, 'utf-8')) as { Events: FixtureEvent[] }).Events;
const regionOf = (e: FixtureEvent) => (JSON.parse(e.CloudTrailEvent) as { awsRegion: string }).awsRegion;

let moto: AwsClients;
let bucket: string;
beforeAll(async () => {
  moto = createMotoClients();
  bucket = uniqueName('trail');
  await moto.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
});
afterAll(() => destroyAwsClients(moto));

describe('moto gap (documented behaviour of the emulator)', () => {
  it('CloudTrail LookupEvents is not implemented: HTTP 500 with an HTML body', async () => {
    const err = await captureError(() => moto.cloudTrail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: INSTANCE }] })));
    expect(err.$metadata?.httpStatusCode).toBe(500);
  });

  it('the us-east-1 client made from a configured client keeps its endpoint, credentials and retries', async () => {
    const sibling = await cloudTrailClientFor(moto.cloudTrail, 'us-east-1');
    try {
      expect(await sibling.config.region()).toBe('us-east-1');
      expect(await sibling.config.endpoint!()).toEqual(await moto.cloudTrail.config.endpoint!());
      expect(await sibling.config.credentials()).toMatchObject({ accessKeyId: motoSettings().credentials!.accessKeyId });
      expect(await sibling.config.maxAttempts()).toBe(await moto.cloudTrail.config.maxAttempts());
    } finally {
      sibling.destroy();
    }
  });
});

describe('pull-cloudtrail with mocked LookupEvents', () => {
  let trail: AwsClientStub<CloudTrailClient>;
  let clients: AwsClients;
  const calls: { region: string; input: LookupEventsCommandInput }[] = [];
  let extraEvents: FixtureEvent[] = [];
  const PAGE = 3;

  beforeAll(() => {
    trail = mockClient(CloudTrailClient);
    clients = createAwsClients({ region: MOTO_REGION, credentials: { accessKeyId: 'unit', secretAccessKey: 'unit' } });
  });
  afterAll(() => {
    trail.restore();
    destroyAwsClients(clients);
  });
  beforeEach(() => {
    calls.length = 0;
    extraEvents = [];
    trail.reset();
    // Like AWS event history: one region's events, one lookup attribute, newest first, pages with NextToken.
    trail.on(LookupEventsCommand).callsFake(async (input: LookupEventsCommandInput, getClient) => {
      const region = await getClient().config.region();
      // A copy: the SDK's paginator sends every page with the same input object, updating its NextToken.
      calls.push({ region, input: { ...input } });
      const attr = input.LookupAttributes?.[0];
      const matching = [...FIXTURE_EVENTS, ...extraEvents].filter((e) => {
        const t = Date.parse(e.EventTime);
        if (regionOf(e) !== region) return false;
        if (input.StartTime && t < input.StartTime.getTime()) return false;
        if (input.EndTime && t > input.EndTime.getTime()) return false;
        if (attr?.AttributeKey === 'Username') return e.Username === attr.AttributeValue;
        if (attr?.AttributeKey === 'AccessKeyId') return e.AccessKeyId === attr.AttributeValue;
        return false;
      });
      const start = input.NextToken ? Number(input.NextToken) : 0;
      const page = matching.slice(start, start + Math.min(PAGE, input.MaxResults ?? 50));
      const next = start + page.length;
      return {
        Events: page.map((e): TrailEvent => ({ ...e, EventTime: new Date(e.EventTime) })),
        ...(next < matching.length ? { NextToken: String(next) } : {}),
      };
    });
  });

  function deps(extra: Partial<ActionDeps['aws']> = {}): ActionDeps {
    return {
      aws: { cloudTrail: clients.cloudTrail, s3: moto.s3, ...extra },
      settings: { ...loadConfig({ env: {}, envFile: false }).pipeline, evidenceBucket: bucket },
      logger: createSilentLogger(),
      now: () => new Date('2025-05-21T15:05:00Z'),
    };
  }
  const noSleep = { sleep: async () => {} };

  it('finds the stolen-credential calls in both regions, stores the raw events with their sha256, and flags IAM persistence and outside calls', async () => {
    const slept: number[] = [];
    const result = await pullCloudTrail(
      { input: { instanceId: INSTANCE, roleName: 'dvwa-ec2-role', ...WINDOW, instanceAddresses: ['192.0.2.10'], pageDelayMs: 700 } as never, actor: ACTOR, incidentId: 'inc-ct' },
      deps(),
      { sleep: async (ms) => void slept.push(ms) },
    );
    expect(result.status).toBe('succeeded');
    const d = result.details as PullCloudTrailDetails;

    expect(d.regions).toEqual([MOTO_REGION, 'us-east-1']);
    expect(d.queries).toEqual([
      { region: MOTO_REGION, attribute: `Username=${INSTANCE}`, pages: 3, events: 7, truncated: false },
      { region: 'us-east-1', attribute: `Username=${INSTANCE}`, pages: 2, events: 6, truncated: false },
    ]);
    expect(slept).toEqual([700, 700, 700]);
    expect(calls.every((c) => c.input.StartTime?.toISOString() === '2025-05-21T13:30:00.000Z' && c.input.EndTime?.toISOString() === '2025-05-21T15:00:00.000Z')).toBe(true);
    expect(calls.filter((c) => c.input.NextToken).map((c) => c.input.NextToken)).toEqual(['3', '6', '3']);

    expect(d.counts).toEqual({ events: 13, flagged: 9, iamPersistence: 4, outsideAws: 9, otherIdentity: 0, truncated: false });
    expect(d.flagged.map((f) => [f.eventName, f.region, f.sourceIPAddress, f.severity, f.rules])).toEqual([
      ['GetCallerIdentity', MOTO_REGION, '198.51.100.77', 'high', ['cloudtrail-call-from-outside-aws']],
      ['ListAttachedRolePolicies', 'us-east-1', '198.51.100.77', 'high', ['cloudtrail-call-from-outside-aws']],
      ['ListUsers', 'us-east-1', '198.51.100.77', 'high', ['cloudtrail-call-from-outside-aws']],
      ['CreateUser', 'us-east-1', '198.51.100.77', 'critical', ['cloudtrail-iam-persistence', 'cloudtrail-call-from-outside-aws']],
      ['AttachUserPolicy', 'us-east-1', '198.51.100.77', 'critical', ['cloudtrail-iam-persistence', 'cloudtrail-call-from-outside-aws']],
      ['CreateAccessKey', 'us-east-1', '198.51.100.77', 'critical', ['cloudtrail-iam-persistence', 'cloudtrail-call-from-outside-aws']],
      ['CreateLoginProfile', 'us-east-1', '198.51.100.77', 'critical', ['cloudtrail-iam-persistence', 'cloudtrail-call-from-outside-aws']],
      ['DescribeInstances', MOTO_REGION, '198.51.100.77', 'high', ['cloudtrail-call-from-outside-aws']],
      ['RunInstances', MOTO_REGION, '198.51.100.77', 'high', ['cloudtrail-call-from-outside-aws']],
    ]);
    expect(d.flagged.find((f) => f.eventName === 'RunInstances')).toMatchObject({ errorCode: 'Client.UnauthorizedOperation', accessKeyId: 'ASIARFZ5EXAMPLE7IXQF', userAgent: expect.stringMatching(/^aws-cli\/2\.15\.30 .*kali/), eventTime: '2025-05-21T14:09:40.000Z' });

    // The stored document: every event once, oldest first, exactly as LookupEvents returned it.
    const key = d.location.slice(`s3://${bucket}/`.length);
    expect(key).toBe(`evidence/inc-ct/${d.sha256}/cloudtrail-${INSTANCE}.json`);
    const stored = await moto.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const body = await stored.Body!.transformToString();
    expect(stored.Metadata).toMatchObject({ sha256: d.sha256, 'instance-id': INSTANCE, events: '13', regions: `${MOTO_REGION},us-east-1` });
    const doc = JSON.parse(body) as { events: { EventId: string; EventTime: string; CloudTrailEvent: string }[]; lookups: string[]; truncated: boolean };
    expect(doc.events.map((e) => e.EventId).sort()).toEqual(FIXTURE_EVENTS.map((e) => e.EventId).sort());
    expect(doc.events.map((e) => e.EventTime)).toEqual([...doc.events.map((e) => e.EventTime)].sort());
    const createUser = doc.events.find((e) => e.EventId === '4c5d6e7f-8091-42a3-b4c5-d6e7f8091a2b')!;
    expect(createUser.CloudTrailEvent).toBe(FIXTURE_EVENTS.find((e) => e.EventId === createUser.EventId)!.CloudTrailEvent);
    expect(d.evidence).toMatchObject({ kind: 'cloudtrail', location: d.location, sha256: d.sha256, source: { instanceId: INSTANCE } });
  });

  it('stores nothing new when run again over the same window (deterministic document)', async () => {
    const input = { instanceId: INSTANCE, ...WINDOW, instanceAddresses: ['192.0.2.10'], pageDelayMs: 0 };
    const first = await pullCloudTrail({ input: input as never, actor: ACTOR, incidentId: 'inc-rerun' }, deps(), noSleep);
    const second = await pullCloudTrail({ input: input as never, actor: ACTOR, incidentId: 'inc-rerun' }, deps(), noSleep);
    expect((first.details as PullCloudTrailDetails).alreadyStored).toBe(false);
    expect(second.details).toMatchObject({ alreadyStored: true, sha256: (first.details as PullCloudTrailDetails).sha256 });
    const listed = await moto.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'evidence/inc-rerun/' }));
    expect(listed.KeyCount).toBe(1);
  });

  it("counts the instance's own public address as outside AWS unless it is known, from the input or from EC2", async () => {
    const unknown = await pullCloudTrail({ input: { instanceId: INSTANCE, ...WINDOW, pageDelayMs: 0 } as never, actor: ACTOR, incidentId: 'inc-addr' }, deps(), noSleep);
    expect((unknown.details as PullCloudTrailDetails).counts.outsideAws).toBe(11);

    // The instance's address from DescribeInstances (the fixture instance exists only here, so EC2 is mocked too).
    const ec2 = new EC2Client({ region: MOTO_REGION, credentials: { accessKeyId: 'unit', secretAccessKey: 'unit' } });
    const ec2Mock = mockClient(ec2);
    ec2Mock.on(DescribeInstancesCommand, { InstanceIds: [INSTANCE] }).resolves({
      Reservations: [{ Instances: [{ InstanceId: INSTANCE, PublicIpAddress: '192.0.2.10', NetworkInterfaces: [{ Association: { PublicIp: '192.0.2.10' } }] }] }],
    });
    try {
      const known = await pullCloudTrail({ input: { instanceId: INSTANCE, ...WINDOW, pageDelayMs: 0 } as never, actor: ACTOR, incidentId: 'inc-addr' }, deps({ ec2 }), noSleep);
      const d = known.details as PullCloudTrailDetails;
      expect(d.instanceAddresses).toEqual(['192.0.2.10']);
      expect(d.counts.outsideAws).toBe(9);
    } finally {
      ec2Mock.restore();
      ec2.destroy();
    }
  });

  it('looks up access key ids too, keeps each event once, and leaves out same-named other identities', async () => {
    const stranger = FIXTURE_EVENTS[0]!;
    extraEvents = [
      {
        ...stranger,
        EventId: 'ffffffff-0000-4000-8000-000000000001',
        EventTime: '2025-05-21T14:30:00Z',
        CloudTrailEvent: JSON.stringify({ ...JSON.parse(stranger.CloudTrailEvent), eventID: 'ffffffff-0000-4000-8000-000000000001', userIdentity: { type: 'IAMUser', arn: `arn:aws:iam::111122223333:user/${INSTANCE}` } }),
      },
    ];
    const result = await pullCloudTrail(
      { input: { instanceId: INSTANCE, roleName: 'dvwa-ec2-role', accessKeyIds: ['ASIARFZ5EXAMPLE7IXQF'], ...WINDOW, instanceAddresses: ['192.0.2.10'], pageDelayMs: 0 } as never, actor: ACTOR, incidentId: 'inc-keys' },
      deps(),
      noSleep,
    );
    const d = result.details as PullCloudTrailDetails;
    expect(d.queries.map((q) => `${q.region} ${q.attribute} ${q.events}`)).toEqual([
      `${MOTO_REGION} Username=${INSTANCE} 8`,
      `${MOTO_REGION} AccessKeyId=ASIARFZ5EXAMPLE7IXQF 8`,
      `us-east-1 Username=${INSTANCE} 6`,
      `us-east-1 AccessKeyId=ASIARFZ5EXAMPLE7IXQF 6`,
    ]);
    // The AccessKeyId lookup returns the stranger too (same key in the fixture), and it is kept: the key was asked for.
    expect(d.counts).toMatchObject({ events: 14, otherIdentity: 1 });
    expect(d.notes.join(' ')).toMatch(/1 event\(s\) with Username .* other than role dvwa-ec2-role were left out/);
  });

  it('stops at maxEvents and says the result is truncated', async () => {
    const result = await pullCloudTrail({ input: { instanceId: INSTANCE, ...WINDOW, maxEvents: 5, pageDelayMs: 0 } as never, actor: ACTOR, incidentId: 'inc-trunc' }, deps(), noSleep);
    const d = result.details as PullCloudTrailDetails;
    expect(d.counts).toMatchObject({ events: 5, truncated: true });
    expect(d.queries).toEqual([
      { region: MOTO_REGION, attribute: `Username=${INSTANCE}`, pages: 2, events: 5, truncated: true },
      { region: 'us-east-1', attribute: `Username=${INSTANCE}`, pages: 0, events: 0, truncated: true },
    ]);
    expect(result.summary).toContain('(truncated)');
  });

  it('searches only the configured region when asked, and says IAM events were not looked up', async () => {
    const result = await pullCloudTrail({ input: { instanceId: INSTANCE, ...WINDOW, includeGlobalRegion: false, pageDelayMs: 0 } as never, actor: ACTOR, incidentId: 'inc-regional' }, deps(), noSleep);
    const d = result.details as PullCloudTrailDetails;
    expect(d.regions).toEqual([MOTO_REGION]);
    expect(d.counts.iamPersistence).toBe(0);
    expect(d.notes.join(' ')).toMatch(/IAM events .* us-east-1 and were not looked up/);
    expect(new Set(calls.map((c) => c.region))).toEqual(new Set([MOTO_REGION]));
  });

  it('dry run returns the plan: no lookup, nothing stored', async () => {
    const result = await invokeAction(pullCloudTrailAction, { instanceId: INSTANCE, accessKeyIds: ['ASIARFZ5EXAMPLE7IXQF'], ...WINDOW }, { actor: ACTOR, incidentId: 'inc-dry', dryRun: true }, deps());
    expect(result.status).toBe('skipped');
    expect(result.details).toMatchObject({ dryRun: true, regions: [MOTO_REGION, 'us-east-1'], queries: [`${MOTO_REGION}: Username=${INSTANCE}`, `${MOTO_REGION}: AccessKeyId=ASIARFZ5EXAMPLE7IXQF`, `us-east-1: Username=${INSTANCE}`, `us-east-1: AccessKeyId=ASIARFZ5EXAMPLE7IXQF`] });
    expect(calls).toEqual([]);
    expect((await moto.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'evidence/inc-dry/' }))).KeyCount).toBe(0);
  });

  it('validates the input', async () => {
    const bad = [
      { instanceId: 'i-nope', ...WINDOW },
      { instanceId: INSTANCE, since: WINDOW.until, until: WINDOW.since },
      { instanceId: INSTANCE, since: '2025-01-01T00:00:00Z', until: '2025-05-21T00:00:00Z' },
      { instanceId: INSTANCE, ...WINDOW, accessKeyIds: ['not-a-key'] },
      { instanceId: INSTANCE, ...WINDOW, roleName: 'bad role' },
    ];
    for (const input of bad) expect((await invokeAction(pullCloudTrailAction, input, { actor: ACTOR, incidentId: 'inc-bad' }, deps())).details, JSON.stringify(input)).toEqual({ error: 'InvalidInput', final: true });
  });

  it('fails with the AWS error when LookupEvents is refused', async () => {
    trail.reset();
    trail.on(LookupEventsCommand).rejects(Object.assign(new Error('User is not authorized to perform: cloudtrail:LookupEvents'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }));
    const result = await invokeAction(pullCloudTrailAction, { instanceId: INSTANCE, ...WINDOW, pageDelayMs: 0 }, { actor: ACTOR, incidentId: 'inc-denied' }, deps());
    expect(result.status).toBe('failed');
    expect(result.summary).toMatch(/LookupEvents \(Username=i-0a1b2c3d4e5f60718, ap-northeast-2\) failed: User is not authorized/);
    expect(result.details).toEqual({ error: 'LookupEventsFailed', final: false });
  });
});
