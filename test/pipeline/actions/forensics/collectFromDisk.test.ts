/**
 * collect-disk.
 *
 * - EC2 (snapshots, CreateVolume, AttachVolume, DetachVolume, DeleteVolume) and S3 run on moto.
 * - SSM Run Command is aws-sdk-client-mock: moto runs nothing and returns empty output (see
 *   test/support/moto/GAPS.md). The mock plays the forensic instance running sentinel's document
 *   workstation-collect-disk: it checks that the volumes are attached at the devices the parameters
 *   name, uploads a real bundle to moto S3 as the script's `aws s3api put-object` would, and prints
 *   the script's result lines; or it fails, or hangs.
 * - Failures moto cannot produce on demand (AttachVolume refused) are injected with a middleware
 *   on a moto-backed EC2 client, so the cleanup runs against moto's real state.
 * - The document script's file-system part (collect_volume, add_volume_files) runs for real under
 *   dash on a directory tree built from the attack fixtures; only mounting needs a real instance.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeVolumesCommand,
  EC2Client,
  RunInstancesCommand,
  type Volume,
} from '@aws-sdk/client-ec2';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CancelCommandCommand, GetCommandInvocationCommand, InvocationDoesNotExist, SendCommandCommand, type SendCommandCommandInput } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { awsClientOptions, createAwsClients, destroyAwsClients, type AwsClients } from '../../../../src/aws/clients.js';
import { loadConfig } from '../../../../src/config.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { analyseArtifacts, readTar, type AnalyseArtifactsDetails } from '../../../../src/pipeline/actions/forensics/analyseArtifacts.js';
import {
  collectFromDisk,
  collectFromDiskAction,
  diskBundleKey,
  safeIncidentSegment,
  TAG_FORENSIC,
  TAG_INCIDENT,
  TAG_SNAPSHOT,
  TAG_SOURCE_INSTANCE,
  TAG_TEMPORARY,
  type CollectFromDiskDetails,
  type CollectFromDiskOptions,
} from '../../../../src/pipeline/actions/forensics/collectFromDisk.js';
import { checkSsmParameters, SSM_DOCUMENTS, ssmDocument } from '../../../../src/aws/ssmDocuments.js';
import { collectDiskParameters, MAX_BUNDLE_BYTES } from '../../../../src/pipeline/forensics/diskCollectScript.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { anyAmiId, createMotoClients, createVpcWithSubnet, MOTO_REGION, motoSettings, uniqueName } from '../../../support/aws.js';
import { useFakeWaiterClock } from '../../../support/fakeWaiterClock.js';

const FIXTURES = join(import.meta.dirname, '../../../fixtures/forensics');
const ACTOR = 'stepfunctions:forensics-exec-1';
const fast: CollectFromDiskOptions = { pollIntervalMs: 1 };

let aws: AwsClients;
let bucket: string;
const ssmClients = createAwsClients({ region: MOTO_REGION, credentials: { accessKeyId: 'unit', secretAccessKey: 'unit' } });
const ssm = mockClient(ssmClients.ssm);

beforeAll(async () => {
  aws = createMotoClients();
  bucket = uniqueName('disk');
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
});
afterEach(() => ssm.reset());
// The volume and command waits are the SDK's waiters: their backoff and deadlines pass on a fake clock.
useFakeWaiterClock();
afterAll(() => {
  ssm.restore();
  destroyAwsClients(ssmClients);
  destroyAwsClients(aws);
});

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const packBundle = (dir: string) => execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-czf', '-', '-C', dir, 'manifest.txt', 'volumes']);

function deps(ec2: EC2Client = aws.ec2): ActionDeps {
  return {
    aws: { ec2, s3: aws.s3, ssm: ssmClients.ssm },
    settings: { ...loadConfig({ env: {}, envFile: false }).pipeline, evidenceBucket: bucket },
    logger: createSilentLogger(),
    now: () => new Date(),
  };
}

/** A moto-backed EC2 client whose calls pass through `hook` first (to count or to fail them). */
function hookedEc2(hook: (command: string, input: Record<string, unknown>) => void): EC2Client {
  const client = new EC2Client(awsClientOptions(motoSettings()));
  client.middlewareStack.add(
    (next, context) => async (args) => {
      hook(String(context.commandName), args.input as Record<string, unknown>);
      return next(args);
    },
    { step: 'initialize', name: 'testHook' },
  );
  return client;
}

interface Scene {
  incidentId: string;
  compromised: string;
  forensic: string;
  zone: string;
  snapshots: string[];
}

async function launch(subnetId: string, tags: Record<string, string> = {}): Promise<string> {
  const out = await aws.ec2.send(
    new RunInstancesCommand({
      ImageId: await anyAmiId(aws.ec2),
      InstanceType: 't3.medium',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: subnetId,
      ...(Object.keys(tags).length ? { TagSpecifications: [{ ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }] } : {}),
    }),
  );
  return out.Instances![0]!.InstanceId!;
}

/** A compromised instance with `count` evidence snapshots (as preserve-disk tags them) and a forensic instance. */
async function scene(count = 2, opts: { forensicTagged?: boolean; forensicProtected?: boolean; snapshotOf?: string } = {}): Promise<Scene> {
  const { subnetId, availabilityZone } = await createVpcWithSubnet(aws.ec2);
  const incidentId = uniqueName('inc');
  const compromised = await launch(subnetId);
  const forensic = await launch(subnetId, { ...(opts.forensicTagged === false ? {} : { [TAG_FORENSIC]: 'true' }), ...(opts.forensicProtected ? { 'sentinel:protected': 'true' } : {}) });
  const snapshots: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const vol = await aws.ec2.send(new CreateVolumeCommand({ AvailabilityZone: availabilityZone, Size: 8 }));
    const snap = await aws.ec2.send(
      new CreateSnapshotCommand({
        VolumeId: vol.VolumeId!,
        TagSpecifications: [{ ResourceType: 'snapshot', Tags: [{ Key: TAG_INCIDENT, Value: incidentId }, { Key: TAG_SOURCE_INSTANCE, Value: opts.snapshotOf ?? compromised }] }],
      }),
    );
    snapshots.push(snap.SnapshotId!);
  }
  return { incidentId, compromised, forensic, zone: availabilityZone, snapshots };
}

async function incidentVolumes(incidentId: string): Promise<Volume[]> {
  const out = await aws.ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: `tag:${TAG_INCIDENT}`, Values: [incidentId] }] }));
  return (out.Volumes ?? []).filter((v) => v.State !== 'deleted');
}

const DOCUMENT_NAME = 'sentinel-workstation-collect-disk';
const DOCUMENT = ssmDocument(SSM_DOCUMENTS.collectDisk);
const SCRIPT = DOCUMENT.content.mainSteps[0]!.inputs.runCommand.join('\n');
/** The document's text between two of its `# sentinel:<part>` marker lines. */
function scriptPart(from: string, to?: string): string {
  const start = SCRIPT.indexOf(`\n# sentinel:${from} `);
  const end = to ? SCRIPT.indexOf(`\n# sentinel:${to} `) : SCRIPT.length;
  if (start < 0 || end < 0) throw new Error(`no ${from} part in the document`);
  return SCRIPT.slice(start, end);
}
/** The awk program the document assigns to SHADOW_AWK (single-quoted, several lines). */
const SHADOW_AWK = /\nSHADOW_AWK='([^']*)'\n/.exec(SCRIPT)![1]!;
/** The parameters as SendCommand carries them, back to plain values. */
const values = (input: SendCommandCommandInput): Record<string, string> => Object.fromEntries(Object.entries(input.Parameters ?? {}).map(([k, v]) => [k, v[0]!]));

interface ForensicRun {
  sent: SendCommandCommandInput[];
  /** What DescribeVolumes showed while the script "ran": volume → device it was attached at on the forensic instance. */
  attachedDuringRun: Record<string, string>;
}

/** The mocked SSM side: a forensic instance that runs the script successfully (uploading a real bundle). */
function forensicInstanceSucceeds(scene: Scene, bundleDir = join(FIXTURES, 'attack/disk')): ForensicRun {
  const run: ForensicRun = { sent: [], attachedDuringRun: {} };
  let stdout = '';
  ssm.on(SendCommandCommand).callsFake(async (input: SendCommandCommandInput) => {
    run.sent.push(input);
    if (input.DocumentName !== DOCUMENT_NAME) throw new Error(`a document other than ${DOCUMENT_NAME} was sent: ${input.DocumentName}`);
    const parameters = values(input);
    for (const v of await incidentVolumes(scene.incidentId)) {
      const a = v.Attachments?.find((x) => x.InstanceId === scene.forensic && x.State === 'attached');
      if (a) run.attachedDuringRun[v.VolumeId!] = a.Device!;
    }
    const body = packBundle(bundleDir);
    const digest = sha256(body);
    const key = parameters.key!;
    await aws.s3.send(
      new PutObjectCommand({
        Bucket: parameters.bucket,
        Key: key,
        Body: body,
        IfNoneMatch: '*',
        ChecksumSHA256: Buffer.from(digest, 'hex').toString('base64'),
        ContentType: 'application/gzip',
        Metadata: { sha256: digest, 'incident-id': parameters.incident!, size: String(body.length) },
      }),
    );
    const volumes = parameters.volumes!.split(' ');
    stdout = [
      ...volumes.map((spec, i) => `SENTINEL-VOLUME n=${spec.split(':')[0]} volume=${spec.split(':')[1]} device=/dev/nvme${i + 1}n1p1 fstype=${i === 0 ? 'ext4' : 'xfs'} status=collected`),
      `SENTINEL-RESULT sha256=${digest} size=${body.length} key=${key}`,
      '',
    ].join('\n');
    return { Command: { CommandId: 'cmd-0a1b2c3d', Status: 'Pending' } };
  });
  ssm
    .on(GetCommandInvocationCommand)
    .rejectsOnce(new InvocationDoesNotExist({ message: 'InvocationDoesNotExist', $metadata: { httpStatusCode: 400 } }))
    .resolvesOnce({ Status: 'InProgress' })
    .callsFake(() => ({ Status: 'Success', ResponseCode: 0, StandardOutputContent: stdout, StandardErrorContent: '' }));
  return run;
}

const collectInput = (s: Scene, extra: Record<string, unknown> = {}) => ({ instanceId: s.compromised, snapshotIds: s.snapshots, forensicInstanceId: s.forensic, webRoots: ['/var/www', '/srv/app'], ...extra });

describe('collect-disk: success and reruns', () => {
  it('mounts volumes made from the snapshots on the forensic instance, stores the bundle, and then detaches and deletes them', async () => {
    const s = await scene(2);
    const run = forensicInstanceSucceeds(s);
    const result = await collectFromDisk({ input: collectInput(s) as never, actor: ACTOR, incidentId: s.incidentId }, deps(), fast);
    expect(result.status, result.summary).toBe('succeeded');
    const d = result.details as CollectFromDiskDetails;

    // One SSM command, on the forensic instance only, with sentinel's document and validated parameters.
    expect(run.sent).toHaveLength(1);
    expect(run.sent[0]).toMatchObject({ InstanceIds: [s.forensic], DocumentName: DOCUMENT_NAME, Parameters: { executionTimeout: ['3600'] } });
    // During the command the new volumes were attached where the script looks for them.
    expect(d.volumes.map((v) => [v.snapshotId, v.device, v.reused, v.status, v.fstype])).toEqual([
      [s.snapshots[0], '/dev/sdf', false, 'collected', 'ext4'],
      [s.snapshots[1], '/dev/sdg', false, 'collected', 'xfs'],
    ]);
    expect(run.attachedDuringRun).toEqual({ [d.volumes[0]!.volumeId!]: '/dev/sdf', [d.volumes[1]!.volumeId!]: '/dev/sdg' });
    expect(values(run.sent[0]!)).toEqual({
      incident: safeIncidentSegment(s.incidentId),
      sourceInstanceId: s.compromised,
      bucket,
      key: diskBundleKey(s.incidentId, s.compromised, s.snapshots),
      region: MOTO_REGION,
      volumes: `1:${d.volumes[0]!.volumeId}:/dev/sdf 2:${d.volumes[1]!.volumeId}:/dev/sdg`,
      webRoots: '/var/www /srv/app',
      maxFileKiB: String(512 * 1024),
      executionTimeout: '3600',
    });
    // Nothing but parameters: no script text, no commands.
    expect(Object.keys(run.sent[0]!.Parameters!)).not.toContain('commands');
    expect(d.volumes.map((v) => v.mountPoint)).toEqual([`/mnt/sentinel/${safeIncidentSegment(s.incidentId)}/1`, `/mnt/sentinel/${safeIncidentSegment(s.incidentId)}/2`]);

    // The bundle: where the details say, with the sha256 the script reported.
    const key = diskBundleKey(s.incidentId, s.compromised, s.snapshots);
    expect(d.bundle).toMatchObject({ bucket, key, location: `s3://${bucket}/${key}` });
    const stored = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(sha256(Buffer.from(await stored.Body!.transformToByteArray()))).toBe(d.bundle.sha256);
    expect(d.artifacts).toEqual([{ kind: 'disk:bundle', location: d.bundle.location, sha256: d.bundle.sha256 }]);
    expect(d.evidence).toMatchObject({ kind: 'disk:bundle', location: d.bundle.location, sha256: d.bundle.sha256, source: { instanceId: s.compromised, command: 'ssm:cmd-0a1b2c3d' } });

    // Afterwards: every temporary volume detached and deleted.
    expect(d.cleanup.complete).toBe(true);
    expect(d.cleanup.volumes.map((c) => [c.detach, c.delete])).toEqual([
      ['detached', 'deleted'],
      ['detached', 'deleted'],
    ]);
    expect(await incidentVolumes(s.incidentId)).toEqual([]);
    expect(result.summary).toMatch(/2 temporary volume\(s\) detached and deleted$/);
  });

  it('created the volumes in the forensic zone with the incident and temporary tags', async () => {
    const s = await scene(1);
    const created: Record<string, unknown>[] = [];
    const ec2 = hookedEc2((command, input) => {
      if (command === 'CreateVolumeCommand') created.push(input);
    });
    forensicInstanceSucceeds(s);
    try {
      await collectFromDisk({ input: collectInput(s) as never, actor: ACTOR, incidentId: s.incidentId }, deps(ec2), fast);
    } finally {
      ec2.destroy();
    }
    expect(created).toEqual([
      {
        SnapshotId: s.snapshots[0],
        AvailabilityZone: s.zone,
        VolumeType: 'gp3',
        TagSpecifications: [
          {
            ResourceType: 'volume',
            Tags: [
              { Key: 'Name', Value: `sentinel-evidence-${s.snapshots[0]}` },
              { Key: TAG_INCIDENT, Value: s.incidentId },
              { Key: TAG_TEMPORARY, Value: 'true' },
              { Key: TAG_SNAPSHOT, Value: s.snapshots[0] },
              { Key: TAG_SOURCE_INSTANCE, Value: s.compromised },
            ],
          },
        ],
      },
    ]);
  });

  it('a rerun after success is skipped, and removes a temporary volume an earlier cleanup left behind', async () => {
    const s = await scene(1);
    forensicInstanceSucceeds(s);
    expect((await collectFromDisk({ input: collectInput(s) as never, actor: ACTOR, incidentId: s.incidentId }, deps(), fast)).status).toBe('succeeded');
    ssm.reset();

    // A leftover: tagged for this incident and snapshot, still attached to the forensic instance.
    const left = await aws.ec2.send(
      new CreateVolumeCommand({
        SnapshotId: s.snapshots[0],
        AvailabilityZone: s.zone,
        TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: TAG_INCIDENT, Value: s.incidentId }, { Key: TAG_TEMPORARY, Value: 'true' }, { Key: TAG_SNAPSHOT, Value: s.snapshots[0]! }] }],
      }),
    );
    await aws.ec2.send(new AttachVolumeCommand({ VolumeId: left.VolumeId!, InstanceId: s.forensic, Device: '/dev/sdh' }));

    const again = await invokeAction(collectFromDiskAction, collectInput(s), { actor: ACTOR, incidentId: s.incidentId }, deps());
    expect(again.status).toBe('skipped');
    expect(again.summary).toMatch(/already collected .*1 temporary volume\(s\) detached and deleted/);
    expect(again.details).toMatchObject({ cleanup: { complete: true, volumes: [{ volumeId: left.VolumeId, detach: 'detached', delete: 'deleted' }] } });
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
    expect(await incidentVolumes(s.incidentId)).toEqual([]);
  });

  it("reuses this incident's volume for a snapshot (removing duplicates) instead of creating another", async () => {
    const s = await scene(2);
    const tags = [{ Key: TAG_INCIDENT, Value: s.incidentId }, { Key: TAG_TEMPORARY, Value: 'true' }, { Key: TAG_SNAPSHOT, Value: s.snapshots[0]! }];
    const earlier = await aws.ec2.send(new CreateVolumeCommand({ SnapshotId: s.snapshots[0], AvailabilityZone: s.zone, TagSpecifications: [{ ResourceType: 'volume', Tags: tags }] }));
    await aws.ec2.send(new AttachVolumeCommand({ VolumeId: earlier.VolumeId!, InstanceId: s.forensic, Device: '/dev/sdf' }));
    const duplicate = await aws.ec2.send(new CreateVolumeCommand({ SnapshotId: s.snapshots[0], AvailabilityZone: s.zone, TagSpecifications: [{ ResourceType: 'volume', Tags: tags }] }));

    const created: string[] = [];
    const ec2 = hookedEc2((command, input) => {
      if (command === 'CreateVolumeCommand') created.push(String(input.SnapshotId));
    });
    const run = forensicInstanceSucceeds(s);
    try {
      const result = await collectFromDisk({ input: collectInput(s) as never, actor: ACTOR, incidentId: s.incidentId }, deps(ec2), fast);
      const d = result.details as CollectFromDiskDetails;
      expect(created).toEqual([s.snapshots[1]]);
      expect(d.volumes.map((v) => [v.volumeId === earlier.VolumeId, v.device, v.reused])).toEqual([
        [true, '/dev/sdf', true],
        [false, '/dev/sdg', false],
      ]);
      expect(run.attachedDuringRun[earlier.VolumeId!]).toBe('/dev/sdf');
      expect(d.cleanup.volumes.map((c) => c.volumeId)).toEqual([duplicate.VolumeId, earlier.VolumeId, d.volumes[1]!.volumeId]);
      expect(d.cleanup.complete).toBe(true);
    } finally {
      ec2.destroy();
    }
    expect(await incidentVolumes(s.incidentId)).toEqual([]);
  });
});

describe('collect-disk: cleanup when a step fails', () => {
  it('detaches and deletes the volumes when the SSM script fails', async () => {
    const s = await scene(2);
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-fail' } });
    ssm.on(GetCommandInvocationCommand).resolves({
      Status: 'Failed',
      ResponseCode: 4,
      StandardOutputContent: 'SENTINEL-VOLUME n=1 volume=vol-00000000 status=no-filesystem\n',
      StandardErrorContent: 'sentinel: volume 1: no ext2/3/4 or xfs file system on /dev/nvme1n1\nsentinel: no volume could be mounted\nfailed to run commands: exit status 4',
    });
    const result = await invokeAction(collectFromDiskAction, collectInput(s), { actor: ACTOR, incidentId: s.incidentId }, deps());
    expect(result.status).toBe('failed');
    expect(result.details).toEqual({ error: 'CollectionFailed', final: false });
    expect(result.summary).toMatch(/ended Failed \(exit 4\): .*no volume could be mounted.*; 2 temporary volume\(s\) detached and deleted$/);
    expect(await incidentVolumes(s.incidentId)).toEqual([]);
  });

  it('detaches and deletes the volumes when attaching fails (the first attached, the second never)', async () => {
    const s = await scene(2);
    let attaches = 0;
    const ec2 = hookedEc2((command) => {
      if (command === 'AttachVolumeCommand' && ++attaches === 2) {
        throw Object.assign(new Error("vol-x is not 'available'."), { name: 'IncorrectState', $metadata: { httpStatusCode: 400 } });
      }
    });
    try {
      const err = await collectFromDisk({ input: collectInput(s) as never, actor: ACTOR, incidentId: s.incidentId }, deps(ec2), fast).then(
        () => undefined,
        (e: Error & { details?: Record<string, unknown> }) => e,
      );
      expect(err?.message).toMatch(/^AttachVolume vol-[0-9a-f]+ at \/dev\/sdg failed: vol-x is not 'available'\.; 2 temporary volume\(s\) detached and deleted$/);
      expect(err?.details?.cleanup).toMatchObject({
        complete: true,
        volumes: [
          { detach: 'detached', delete: 'deleted' },
          { detach: 'not-attached', delete: 'deleted' },
        ],
      });
    } finally {
      ec2.destroy();
    }
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
    expect(await incidentVolumes(s.incidentId)).toEqual([]);
  });

  it('stops waiting at once when a volume fails to create (state error), and still deletes it', async () => {
    const s = await scene(1);
    const polls: string[] = [];
    const ec2 = new EC2Client(awsClientOptions(motoSettings()));
    ec2.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        const ids = (args.input as { VolumeIds?: string[] }).VolumeIds;
        if (context.commandName === 'DescribeVolumesCommand' && ids) {
          // Like a volume whose snapshot could not be restored: EC2 says error, and it stays so.
          polls.push(ids[0]!);
          for (const v of (out.output as { Volumes?: Volume[] }).Volumes ?? []) v.State = 'error';
        }
        return out;
      },
      { step: 'initialize', name: 'failedVolume' },
    );
    try {
      const err = await collectFromDisk({ input: collectInput(s) as never, actor: ACTOR, incidentId: s.incidentId }, deps(ec2), fast).then(
        () => undefined,
        (e: Error & { code?: string; details?: Record<string, unknown> }) => e,
      );
      expect(err?.code).toBe('VolumeError');
      expect(err?.message).toMatch(new RegExp(`^volume vol-[0-9a-f]+ failed to create from ${s.snapshots[0]}; 1 temporary volume\\(s\\) detached and deleted$`));
      // One look was enough: the waiter did not sit out the 600 s volume wait. The cleanup looked once more.
      expect(polls).toHaveLength(2);
    } finally {
      ec2.destroy();
    }
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
    expect(await incidentVolumes(s.incidentId)).toEqual([]);
  });

  it('cancels a script that does not finish in time and still cleans up', async () => {
    const s = await scene(1);
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-slow' } });
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });
    ssm.on(CancelCommandCommand).resolves({});
    const result = await collectFromDisk(
      { input: collectInput(s, { commandTimeoutSeconds: 60 }) as never, actor: ACTOR, incidentId: s.incidentId },
      deps(),
      { pollIntervalMs: 1000 },
    ).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(result?.code).toBe('CollectionTimedOut');
    expect(result?.message).toMatch(/1 temporary volume\(s\) detached and deleted$/);
    expect(ssm.commandCalls(CancelCommandCommand).map((c) => c.args[0].input)).toEqual([{ CommandId: 'cmd-slow', InstanceIds: [s.forensic] }]);
    expect(await incidentVolumes(s.incidentId)).toEqual([]);
  });

  it('forces the detach of a volume that stays busy (moto detaches at once, so the first, unforced DetachVolume is swallowed)', async () => {
    const s = await scene(1);
    const detaches: unknown[] = [];
    const ec2 = new EC2Client(awsClientOptions(motoSettings()));
    ec2.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Force?: boolean };
        if (context.commandName === 'DetachVolumeCommand') {
          detaches.push(input.Force ?? false);
          // Like a volume the forensic instance still holds: AWS says "detaching" and it stays in-use.
          if (!input.Force) return { output: { $metadata: {}, State: 'detaching' }, response: {} } as never;
        }
        return next(args);
      },
      { step: 'initialize', name: 'busyVolume' },
    );
    forensicInstanceSucceeds(s);
    try {
      const result = await collectFromDisk(
        { input: collectInput(s, { volumeWaitSeconds: 30 }) as never, actor: ACTOR, incidentId: s.incidentId },
        deps(ec2),
        { pollIntervalMs: 1000 },
      );
      expect(result.status).toBe('succeeded');
      expect((result.details as CollectFromDiskDetails).cleanup).toEqual({
        complete: true,
        volumes: [{ volumeId: expect.stringMatching(/^vol-/), snapshotId: s.snapshots[0], detach: 'forced', delete: 'deleted' }],
      });
    } finally {
      ec2.destroy();
    }
    expect(detaches).toEqual([false, true]);
    expect(await incidentVolumes(s.incidentId)).toEqual([]);
  });

  it('reports a volume it could not delete instead of hiding it', async () => {
    const s = await scene(1);
    const ec2 = hookedEc2((command) => {
      if (command === 'DeleteVolumeCommand') throw Object.assign(new Error('You are not authorized to perform this operation.'), { name: 'UnauthorizedOperation', $metadata: { httpStatusCode: 403 } });
    });
    forensicInstanceSucceeds(s);
    try {
      const result = await collectFromDisk({ input: collectInput(s) as never, actor: ACTOR, incidentId: s.incidentId }, deps(ec2), fast);
      expect(result.status).toBe('succeeded');
      const d = result.details as CollectFromDiskDetails;
      expect(d.cleanup.complete).toBe(false);
      expect(d.cleanup.volumes[0]).toMatchObject({ detach: 'detached', delete: 'failed', error: expect.stringContaining('not authorized') });
      expect(result.summary).toMatch(/CLEANUP FAILED for vol-[0-9a-f]+ .*detach and delete it by hand$/);
    } finally {
      ec2.destroy();
    }
    const [left] = await incidentVolumes(s.incidentId);
    expect(left?.State).toBe('available');
    await aws.ec2.send(new (await import('@aws-sdk/client-ec2')).DeleteVolumeCommand({ VolumeId: left!.VolumeId! }));
  });
});

describe('collect-disk: refusals and plan', () => {
  it('refuses a forensic instance without the sentinel:forensic=true tag, before creating anything', async () => {
    const s = await scene(1, { forensicTagged: false });
    const result = await invokeAction(collectFromDiskAction, collectInput(s), { actor: ACTOR, incidentId: s.incidentId }, deps());
    expect(result.details).toEqual({ error: 'NotForensicInstance', final: true });
    expect(await incidentVolumes(s.incidentId)).toEqual([]);
  });

  it('refuses a forensic instance that carries the protected tag, before creating or sending anything', async () => {
    const s = await scene(1, { forensicProtected: true });
    forensicInstanceSucceeds(s);
    const result = await invokeAction(collectFromDiskAction, collectInput(s), { actor: ACTOR, incidentId: s.incidentId }, deps());
    expect(result).toMatchObject({ status: 'failed', details: { error: 'ProtectedTarget', final: true } });
    expect(result.summary).toBe(`instance ${s.forensic} is protected (tag sentinel:protected=true); sentinel never runs a collection on it`);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
    expect(await incidentVolumes(s.incidentId)).toEqual([]);
  });

  it('refuses snapshots taken of another instance', async () => {
    const s = await scene(1, { snapshotOf: 'i-0fedcba9876543210' });
    const result = await invokeAction(collectFromDiskAction, collectInput(s), { actor: ACTOR, incidentId: s.incidentId }, deps());
    expect(result.details).toEqual({ error: 'SnapshotOfOtherInstance', final: true });
  });

  it('validates the input (web roots, ids, the forensic instance is not the compromised one)', async () => {
    const base = { instanceId: 'i-0a1b2c3d4e5f60718', snapshotIds: ['snap-0123456789abcdef0'], forensicInstanceId: 'i-0fedcba9876543210' };
    const bad = [
      { ...base, webRoots: ['/var/www/../../etc'] },
      { ...base, webRoots: ['/var/www; reboot'] },
      { ...base, webRoots: ["/var/www'$(id)'"] },
      { ...base, webRoots: ['var/www'] },
      { ...base, webRoots: ['/'] },
      { ...base, forensicInstanceId: base.instanceId },
      { ...base, snapshotIds: ['snap-0123456789abcdef0', 'snap-0123456789abcdef0'] },
      { ...base, snapshotIds: Array.from({ length: 12 }, (_, i) => `snap-0123456789abcde${i.toString(16)}0`) },
      { ...base, snapshotIds: ['snap-nope'] },
    ];
    for (const input of bad) expect((await invokeAction(collectFromDiskAction, input, { actor: ACTOR, incidentId: 'inc' }, deps())).details, JSON.stringify(input)).toEqual({ error: 'InvalidInput', final: true });
  });

  it('dry run returns the plan (free devices, script, bundle location) and creates nothing', async () => {
    const s = await scene(2);
    // /dev/sdf is taken on the forensic instance: the plan starts at /dev/sdg.
    const other = await aws.ec2.send(new CreateVolumeCommand({ AvailabilityZone: s.zone, Size: 1 }));
    await aws.ec2.send(new AttachVolumeCommand({ VolumeId: other.VolumeId!, InstanceId: s.forensic, Device: '/dev/sdf' }));
    const result = await invokeAction(collectFromDiskAction, collectInput(s), { actor: ACTOR, incidentId: s.incidentId, dryRun: true }, deps());
    expect(result.status).toBe('skipped');
    const plan = result.details as { volumes: { device: string; action: string }[]; document: string; parameters: Record<string, string>; location: string; dryRun: true };
    expect(plan.volumes.map((v) => [v.device, v.action])).toEqual([
      ['/dev/sdg', 'create and attach'],
      ['/dev/sdh', 'create and attach'],
    ]);
    expect(plan.location).toBe(`s3://${bucket}/${diskBundleKey(s.incidentId, s.compromised, s.snapshots)}`);
    expect(plan.document).toBe(DOCUMENT_NAME);
    expect(plan.parameters).toMatchObject({ webRoots: '/var/www /srv/app', volumes: '1:vol-00000000:/dev/sdg 2:vol-00000000:/dev/sdh' });
    expect(await incidentVolumes(s.incidentId)).toEqual([]);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
  });
});

describe('the collection document and its parameters', () => {
  const params = {
    incident: safeIncidentSegment('inc-1'),
    sourceInstanceId: 'i-0a1b2c3d4e5f60718',
    bucket: 'evidence-bucket',
    key: diskBundleKey('inc-1', 'i-0a1b2c3d4e5f60718', ['snap-0123456789abcdef0']),
    region: 'ap-northeast-2',
    volumes: [
      { n: 1, volumeId: 'vol-0123456789abcdef0', device: '/dev/sdf' },
      { n: 2, volumeId: 'vol-0123456789abcdef1', device: '/dev/sdg' },
    ],
    webRoots: ['/var/www', '/srv/app/'],
    maxFileKiB: 512 * 1024,
  };

  it('sends the validated values as parameters, which the document accepts', () => {
    const parameters = collectDiskParameters(params, 3600);
    expect(parameters).toEqual({
      incident: 'inc-1',
      sourceInstanceId: 'i-0a1b2c3d4e5f60718',
      bucket: 'evidence-bucket',
      key: params.key,
      region: 'ap-northeast-2',
      volumes: '1:vol-0123456789abcdef0:/dev/sdf 2:vol-0123456789abcdef1:/dev/sdg',
      webRoots: '/var/www /srv/app',
      maxFileKiB: '524288',
      executionTimeout: '3600',
    });
    expect(() => checkSsmParameters(DOCUMENT, parameters)).not.toThrow();
  });

  it('mounts read-only by file system type, uploads once, and always cleans up', () => {
    expect(SCRIPT).toContain('blkid -p -o value -s TYPE');
    expect(SCRIPT).toContain("xfs) opts='ro,norecovery,nouuid,nosuid,nodev,noexec' ;;");
    expect(SCRIPT).toContain("*) opts='ro,noload,nosuid,nodev,noexec' ;;");
    expect(SCRIPT).toContain('MNT_BASE="/mnt/sentinel/$INCIDENT"');
    expect(SCRIPT).toMatch(/aws s3api put-object .*--if-none-match '\*' --checksum-algorithm SHA256/);
    expect(SCRIPT).toContain('trap cleanup EXIT');
    expect(SCRIPT).toContain(`MAX_BUNDLE_BYTES=${MAX_BUNDLE_BYTES}`);
    // The values come only from the SSM_ variables.
    for (const [name, variable] of Object.entries({ INCIDENT: 'incident', SOURCE_INSTANCE: 'sourceInstanceId', BUCKET: 'bucket', KEY: 'key', REGION: 'region', VOLUMES: 'volumes', WEBROOTS: 'webRoots', MAX_FILE_KB: 'maxFileKiB' })) {
      expect(SCRIPT).toContain(`\n${name}=$SSM_${variable}\n`);
    }
  });

  it('sends nothing that did not pass its allowlist', () => {
    expect(safeIncidentSegment("inc'; reboot; echo '$(id)")).toBe('inc___reboot__echo____id_');
    expect(safeIncidentSegment('../../etc')).toBe('______etc');
    const unsafe = [
      { ...params, incident: "x'; reboot" },
      { ...params, key: 'evidence/../x' },
      { ...params, volumes: [{ n: 1, volumeId: 'vol-1;reboot', device: '/dev/sdf' }] },
      { ...params, volumes: [{ n: 1, volumeId: 'vol-0123456789abcdef0', device: '/dev/sda' }] },
      { ...params, volumes: [] },
      { ...params, bucket: 'Bad_Bucket' },
      { ...params, region: 'us-east-1; reboot' },
      { ...params, maxFileKiB: 0 },
    ];
    for (const p of unsafe) expect(() => collectDiskParameters(p, 3600), JSON.stringify(p)).toThrow(/refusing to send/);
    expect(() => collectDiskParameters({ ...params, webRoots: ['/var/www $(reboot)'] }, 3600)).toThrow(/refusing web root/);
    expect(() => collectDiskParameters(params, 172_801)).toThrow(/refusing to send timeout/);
  });

  it('shadow metadata: user, uid, gid, shell, password state and last change, never a hash', () => {
    const dir = join(FIXTURES, 'accounts');
    const out = execFileSync('awk', [SHADOW_AWK, join(dir, 'shadow'), join(dir, 'passwd')]).toString();
    expect(out).toBe(
      [
        '#user\tuid\tgid\tshell\tpassword\tlastchange_days',
        'root\t0\t0\t/bin/bash\tnone\t20045',
        'daemon\t1\t1\t/usr/sbin/nologin\tnone\t20045',
        'www-data\t33\t33\t/usr/sbin/nologin\tnone\t20045',
        'sshd\t106\t65534\t/usr/sbin/nologin\tnone\t20045',
        'ubuntu\t1000\t1000\t/bin/bash\tnone\t20045',
        'deploy\t1001\t1001\t/bin/bash\tset\t20120',
        'toor\t0\t0\t/bin/bash\tset\t20229',
        'ghost\t1002\t1002\t/bin/sh\tno-shadow-entry\t',
        '',
      ].join('\n'),
    );
    expect(out).not.toMatch(/\$[0-9a-z]+\$|FAKE/);
    // Without a readable shadow file every account is listed without a state.
    expect(execFileSync('awk', [SHADOW_AWK, '/dev/null', join(dir, 'passwd')]).toString()).toContain('root\t0\t0\t/bin/bash\tno-shadow-entry\t\n');
  });

  it('collects a file system into a bundle the analysis reads: links kept as links, nothing outside the volume, no shadow file', async () => {
    const work = mkdtempSync(join(tmpdir(), 'sentinel-collect-'));
    try {
      // The "mounted" evidence volume: the attack fixture's files, plus traps pointing outside it.
      const R = join(work, 'mnt', '1');
      cpSync(join(FIXTURES, 'attack/disk/volumes/1/fs'), R, { recursive: true });
      cpSync(join(FIXTURES, 'accounts/passwd'), join(R, 'etc/passwd'));
      cpSync(join(FIXTURES, 'accounts/shadow'), join(R, 'etc/shadow'));
      symlinkSync('/dev/null', join(R, 'root/.bash_history'));
      symlinkSync('/etc/shadow', join(R, 'etc/cron.d/evil'));
      symlinkSync('/etc', join(R, 'home/escape'));
      mkdirSync(join(R, 'srv'), { recursive: true });
      symlinkSync('/etc', join(R, 'srv/app'));
      mkdirSync(join(R, 'var/www/html/hackable/uploads'), { recursive: true });
      writeFileSync(join(R, 'var/www/html/hackable/uploads/cmd.php'), '<?php system($_GET["cmd"]); ?>\n');
      mkdirSync(join(R, 'tmp/.ICE-unix/.x'), { recursive: true });
      writeFileSync(join(R, 'tmp/.ICE-unix/.x/config.json'), '{"pools":[{"url":"198.51.100.23:3333"}]}\n');
      const STAGE = join(work, 'stage');
      const OUT = join(STAGE, 'bundle');
      mkdirSync(join(OUT, 'volumes'), { recursive: true });
      writeFileSync(join(OUT, 'manifest.txt'), 'sentinel-collect-disk 1\n');

      // The document's own text: its SHADOW_AWK and its functions part (mounting needs a real instance).
      const script = [
        `SHADOW_AWK='${SHADOW_AWK}'`,
        scriptPart('functions', 'main'),
        'set -u',
        `R='${R}'; STAGE='${STAGE}'; OUT='${OUT}'; O="$OUT/volumes/1"; n=1; WEBROOTS='/var/www /srv/app'; MAX_FILE_KB=1024`,
        'collect_volume',
        '(cd "$OUT" && tar -cf "$STAGE/bundle.tar" manifest.txt volumes) || exit 5',
        'add_volume_files 1 "$R" || exit 6',
        'gzip -n "$STAGE/bundle.tar"',
      ].join('\n');
      const ran = spawnSync('dash', ['-c', script], { encoding: 'utf-8' });
      expect(ran.status, ran.stderr).toBe(0);
      expect(ran.stderr).toContain('volume 1: web root /srv/app leads outside the volume; skipped');

      const archive = readFileSync(join(STAGE, 'bundle.tar.gz'));
      const members = await readTar(gunzipSync(archive));
      const names = members.map((m) => m.name);
      expect(names).toEqual(expect.arrayContaining(['manifest.txt', 'volumes/1/listing.tsv', 'volumes/1/weblisting.tsv', 'volumes/1/accounts.tsv', 'volumes/1/fs/var/log/apache2/access.log', 'volumes/1/fs/var/spool/cron/crontabs/root', 'volumes/1/fs/var/www/html/hackable/uploads/cmd.php']));
      expect(names.filter((n) => /shadow/.test(n))).toEqual([]);
      expect(names.filter((n) => n.startsWith('volumes/1/fs/home/escape/'))).toEqual([]);
      const link = (n: string) => members.find((m) => m.name === n);
      expect(link('volumes/1/fs/etc/cron.d/evil')?.type).toBe('2');
      expect(link('volumes/1/fs/etc/cron.d/evil')?.data.length).toBe(0);
      expect(link('volumes/1/fs/root/.bash_history')?.type).toBe('2');
      const text = (n: string) => link(n)!.data.toString('utf-8');
      expect(text('volumes/1/accounts.tsv')).not.toMatch(/\$[0-9a-z]+\$|FAKE/);
      expect(text('volumes/1/accounts.tsv')).toContain('toor\t0\t0\t/bin/bash\tset\t20229\n');
      expect(text('volumes/1/listing.tsv')).toMatch(/\tl\tlrwxrwxrwx\t\d+\t\d+\t9\t\/root\/\.bash_history\t\/dev\/null\n/);
      expect(text('volumes/1/listing.tsv')).toMatch(/\tl\tlrwxrwxrwx\t\d+\t\d+\t4\t\/home\/escape\t\/etc\n/);
      expect(text('volumes/1/webhashes.sha256')).toBe(`${sha256('<?php system($_GET["cmd"]); ?>\n')}  var/www/html/hackable/uploads/cmd.php\n`);

      // And the analysis finds the planted evidence in it.
      await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'evidence/inc-script/bundle.tar.gz', Body: archive }));
      const now = Date.now();
      const analysed = await analyseArtifacts(
        {
          input: {
            artifacts: [{ kind: 'disk:bundle', location: `s3://${bucket}/evidence/inc-script/bundle.tar.gz`, sha256: sha256(archive) }],
            window: { since: new Date(now - 3_600_000).toISOString(), until: new Date(now + 60_000).toISOString() },
            knownBadIps: ['198.51.100.77'],
          } as never,
          actor: ACTOR,
          incidentId: 'inc-script',
        },
        deps(),
      );
      const ids = new Set((analysed.details as AnalyseArtifactsDetails).findings.map((f) => f.ruleId));
      for (const id of ['web-script-in-upload-dir', 'history-linked-to-dev-null', 'log-truncated', 'hidden-temp-entry', 'account-uid0-not-root', 'web-shell-request', 'imds-credential-access', 'download-and-execute']) {
        expect(ids, id).toContain(id);
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
