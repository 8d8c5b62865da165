/**
 * preserve-disk against moto EC2 (instances, volumes, snapshots, tags and images behave as on
 * AWS, except that snapshots complete at once).
 *
 * moto gaps met here (moto 5.2.5):
 * - CreateImage with a `snapshot` TagSpecification answers HTTP 500 (NotImplementedError); AWS
 *   tags the image's snapshots. The tests' EC2 client records the real request and drops only
 *   that entry before it reaches moto (a middleware on the test's own client; the action is
 *   unchanged).
 * - CreateImage with a name already in use succeeds on moto; AWS answers
 *   InvalidAMIName.Duplicate. That race path is covered with aws-sdk-client-mock.
 */
import {
  AttachVolumeCommand,
  CreateImageCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  DescribeInstancesCommand,
  EC2Client,
  EC2ServiceException,
  RunInstancesCommand,
  CreateSnapshotCommand,
  type CreateImageCommandInput,
  type Snapshot,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsClientOptions, createAwsClients, destroyAwsClients, type AwsClients } from '../../../../src/aws/clients.js';
import { imageName, preserveDisk, preserveDiskAction, type PreserveDiskDetails } from '../../../../src/pipeline/actions/forensics/preserveDisk.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { testDeps } from '../../../helpers/deps.js';
import { anyAmiId, createMotoClients, createVpcWithSubnet, motoSettings, MOTO_REGION, uniqueName } from '../../../support/aws.js';

let aws: AwsClients;
/** moto EC2 client whose CreateImage requests are recorded, then adapted to moto (see above). */
let ec2: EC2Client;
const createImageRequests: CreateImageCommandInput[] = [];

beforeAll(() => {
  aws = createMotoClients();
  ec2 = new EC2Client(awsClientOptions(motoSettings()));
  ec2.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'CreateImageCommand') {
        const original = args.input as CreateImageCommandInput;
        createImageRequests.push(structuredClone(original));
        const adapted = { ...original, TagSpecifications: original.TagSpecifications?.filter((t) => t.ResourceType !== 'snapshot') };
        return next({ ...args, input: adapted });
      }
      return next(args);
    },
    { step: 'initialize', name: 'motoCreateImageSnapshotTagGap' },
  );
});
afterAll(() => {
  destroyAwsClients(aws);
  ec2.destroy();
});

function deps(): ActionDeps {
  return testDeps({ aws: { ...aws, ec2 } });
}

/** An instance with its root volume and a second volume attached as /dev/sdf. */
async function launch(): Promise<{ instanceId: string; volumes: Record<string, string> }> {
  const { subnetId, availabilityZone } = await createVpcWithSubnet(aws.ec2);
  const run = await aws.ec2.send(new RunInstancesCommand({ ImageId: await anyAmiId(aws.ec2), InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: subnetId }));
  const instanceId = run.Instances![0]!.InstanceId!;
  const vol = await aws.ec2.send(new CreateVolumeCommand({ AvailabilityZone: availabilityZone, Size: 8 }));
  await aws.ec2.send(new AttachVolumeCommand({ VolumeId: vol.VolumeId!, InstanceId: instanceId, Device: '/dev/sdf' }));
  const described = await aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const mappings = described.Reservations![0]!.Instances![0]!.BlockDeviceMappings ?? [];
  return { instanceId, volumes: Object.fromEntries(mappings.map((m) => [m.DeviceName!, m.Ebs!.VolumeId!])) };
}

async function snapshotsOf(incidentId: string, instanceId: string): Promise<Snapshot[]> {
  const out = await aws.ec2.send(
    new DescribeSnapshotsCommand({
      OwnerIds: ['self'],
      Filters: [
        { Name: 'tag:sentinel:incident', Values: [incidentId] },
        { Name: 'tag:sentinel:instance', Values: [instanceId] },
      ],
    }),
  );
  return out.Snapshots ?? [];
}

async function imagesNamed(name: string) {
  return (await aws.ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: [name] }] }))).Images ?? [];
}

const tags = (s: { Tags?: { Key?: string; Value?: string }[] }) => Object.fromEntries((s.Tags ?? []).map((t) => [t.Key!, t.Value!]));

describe('preserve-disk', () => {
  it('snapshots every attached volume, tagged with incident, instance, volume and device; no AMI unless asked', async () => {
    const { instanceId, volumes } = await launch();
    expect(Object.keys(volumes).length).toBeGreaterThanOrEqual(2);
    const incidentId = uniqueName('inc');

    const result = await invokeAction(preserveDiskAction, { instanceId }, { actor: 'discord:1', incidentId }, deps());

    expect(result.status).toBe('succeeded');
    const details = result.details as PreserveDiskDetails;
    expect(details.imageId).toBeUndefined();
    expect(details.snapshots.map((s) => [s.device, s.volumeId, s.reused]).sort()).toEqual(Object.entries(volumes).map(([d, v]) => [d, v, false]).sort());
    const stored = await snapshotsOf(incidentId, instanceId);
    expect(stored).toHaveLength(Object.keys(volumes).length);
    for (const s of details.snapshots) {
      const snap = stored.find((x) => x.SnapshotId === s.snapshotId)!;
      expect(snap.VolumeId).toBe(s.volumeId);
      expect(tags(snap)).toEqual({ 'sentinel:incident': incidentId, 'sentinel:instance': instanceId, 'sentinel:volume': s.volumeId, 'sentinel:device': s.device });
    }
    expect(details.evidence.map((e) => e.location).sort()).toEqual(details.snapshots.map((s) => `ebs-snapshot:${s.snapshotId}`).sort());
    expect(details.evidence[0]).toMatchObject({ kind: 'ebs-snapshot', source: { instanceId } });
    expect(await imagesNamed(imageName(incidentId, instanceId))).toEqual([]);
    expect(result.summary).toContain(`${Object.keys(volumes).length} snapshot(s) taken`);
  });

  it('a rerun reuses the incident\'s snapshots and takes none', async () => {
    const { instanceId } = await launch();
    const incidentId = uniqueName('inc');
    const first = await invokeAction(preserveDiskAction, { instanceId }, { actor: 'cli', incidentId }, deps());
    const second = await invokeAction(preserveDiskAction, { instanceId }, { actor: 'cli', incidentId }, deps());

    expect(second.status).toBe('skipped');
    expect(second.summary).toContain('already preserved');
    const a = (first.details as PreserveDiskDetails).snapshots;
    const b = (second.details as PreserveDiskDetails).snapshots;
    expect(b.map((s) => s.snapshotId).sort()).toEqual(a.map((s) => s.snapshotId).sort());
    expect(b.every((s) => s.reused)).toBe(true);
    expect(await snapshotsOf(incidentId, instanceId)).toHaveLength(a.length);

    // Another incident on the same instance gets its own snapshots.
    const other = uniqueName('inc');
    const third = await invokeAction(preserveDiskAction, { instanceId }, { actor: 'cli', incidentId: other }, deps());
    expect((third.details as PreserveDiskDetails).snapshots.every((s) => !s.reused)).toBe(true);
  });

  it('takes only the missing snapshot when one volume was already done', async () => {
    const { instanceId, volumes } = await launch();
    const incidentId = uniqueName('inc');
    const [device, volumeId] = Object.entries(volumes)[0]!;
    const earlier = await aws.ec2.send(
      new CreateSnapshotCommand({
        VolumeId: volumeId,
        TagSpecifications: [{ ResourceType: 'snapshot', Tags: [{ Key: 'sentinel:incident', Value: incidentId }, { Key: 'sentinel:instance', Value: instanceId }, { Key: 'sentinel:volume', Value: volumeId }] }],
      }),
    );
    const result = await invokeAction(preserveDiskAction, { instanceId }, { actor: 'cli', incidentId }, deps());
    expect(result.status).toBe('succeeded');
    const snaps = (result.details as PreserveDiskDetails).snapshots;
    expect(snaps.find((s) => s.device === device)).toMatchObject({ snapshotId: earlier.SnapshotId, reused: true });
    expect(snaps.filter((s) => !s.reused)).toHaveLength(Object.keys(volumes).length - 1);
    expect(result.summary).toContain('1 reused');
  });

  it('registers a tagged AMI with NoReboot when asked, named sentinel-<incident>-<instance>, and reuses it on a rerun', async () => {
    const { instanceId } = await launch();
    const incidentId = uniqueName('inc');
    const name = imageName(incidentId, instanceId);
    expect(name).toBe(`sentinel-${incidentId}-${instanceId}`);
    createImageRequests.length = 0;

    const result = await invokeAction(preserveDiskAction, { instanceId, createAmi: true }, { actor: 'cli', incidentId }, deps());
    expect(result.status).toBe('succeeded');
    const details = result.details as PreserveDiskDetails;
    expect(details).toMatchObject({ imageName: name, imageReused: false, imageId: expect.stringMatching(/^ami-/) });
    expect(details.evidence).toContainEqual(expect.objectContaining({ kind: 'ami', location: `ami:${details.imageId}` }));

    // What was asked of EC2 (before the moto adaptation): no reboot, image and its snapshots tagged.
    expect(createImageRequests).toHaveLength(1);
    const expectedTags = [
      { Key: 'sentinel:incident', Value: incidentId },
      { Key: 'sentinel:instance', Value: instanceId },
    ];
    expect(createImageRequests[0]).toMatchObject({
      InstanceId: instanceId,
      Name: name,
      NoReboot: true,
      TagSpecifications: [
        { ResourceType: 'image', Tags: expectedTags },
        { ResourceType: 'snapshot', Tags: expectedTags },
      ],
    });
    const images = await imagesNamed(name);
    expect(images.map((i) => i.ImageId)).toEqual([details.imageId]);
    expect(tags(images[0]!)).toEqual({ 'sentinel:incident': incidentId, 'sentinel:instance': instanceId });

    const again = await invokeAction(preserveDiskAction, { instanceId, createAmi: true }, { actor: 'cli', incidentId }, deps());
    expect(again.status).toBe('skipped');
    expect(again.details).toMatchObject({ imageId: details.imageId, imageReused: true });
    expect(createImageRequests).toHaveLength(1);
    expect(await imagesNamed(name)).toHaveLength(1);
  });

  it('dry run: plans, and creates no snapshot and no image', async () => {
    const { instanceId, volumes } = await launch();
    const incidentId = uniqueName('inc');
    createImageRequests.length = 0;
    const result = await invokeAction(preserveDiskAction, { instanceId, createAmi: true }, { actor: 'cli', incidentId, dryRun: true }, deps());
    expect(result.status).toBe('skipped');
    expect(result.summary).toBe(`dry run: would snapshot ${Object.keys(volumes).length} of ${Object.keys(volumes).length} volume(s) of ${instanceId}, create image ${imageName(incidentId, instanceId)}`);
    expect(result.details).toMatchObject({ dryRun: true, imageId: null, imageReused: false });
    expect((result.details as { snapshots: { snapshotId: string | null }[] }).snapshots.every((s) => s.snapshotId === null)).toBe(true);
    expect(await snapshotsOf(incidentId, instanceId)).toEqual([]);
    expect(await imagesNamed(imageName(incidentId, instanceId))).toEqual([]);
    expect(createImageRequests).toHaveLength(0);
  });

  it('fails as NotFound for an instance EC2 does not have; refuses bad input', async () => {
    const missing = await invokeAction(preserveDiskAction, { instanceId: 'i-0000000000000dead' }, { actor: 'cli', incidentId: 'inc-1' }, deps());
    expect(missing).toMatchObject({ status: 'failed', details: { error: 'InstanceNotFound', final: true } });
    const bad = await invokeAction(preserveDiskAction, { instanceId: 'i-123; id', createAmi: 'yes' }, { actor: 'cli', incidentId: 'inc-1' }, deps());
    expect(bad).toMatchObject({ status: 'failed', details: { error: 'InvalidInput', final: true } });
  });

  it('never destroys memory and declares its permissions', () => {
    expect(preserveDiskAction.destroysMemory).toBe(false);
    expect([...preserveDiskAction.permissions.iam].sort()).toEqual(
      ['ec2:CreateImage', 'ec2:CreateSnapshot', 'ec2:CreateTags', 'ec2:DescribeImages', 'ec2:DescribeInstances', 'ec2:DescribeSnapshots'].sort(),
    );
  });
});

describe('with mocked EC2 (moto accepts duplicate AMI names; AWS answers InvalidAMIName.Duplicate)', () => {
  it('adopts the image another run registered between DescribeImages and CreateImage', async () => {
    const clients = createAwsClients({ region: MOTO_REGION, credentials: { accessKeyId: 'unit', secretAccessKey: 'unit' } });
    const mock = mockClient(clients.ec2);
    try {
      const instanceId = 'i-0123456789abcdef0';
      const name = imageName('inc-9', instanceId);
      mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: instanceId, State: { Name: 'running' }, BlockDeviceMappings: [] }] }] });
      mock.on(DescribeSnapshotsCommand).resolves({ Snapshots: [] });
      mock.on(DescribeImagesCommand).resolvesOnce({ Images: [] }).resolves({ Images: [{ ImageId: 'ami-0aaaabbbbccccdddd', Name: name, State: 'pending' }] });
      mock.on(CreateImageCommand).rejects(
        new EC2ServiceException({ name: 'InvalidAMIName.Duplicate', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: `AMI name ${name} is already in use by AMI ami-0aaaabbbbccccdddd` }),
      );
      const result = await preserveDisk({ input: { instanceId, createAmi: true }, actor: 'cli', incidentId: 'inc-9' }, testDeps({ aws: { ec2: clients.ec2 } }));
      expect(result.status).toBe('succeeded');
      expect(result.details).toMatchObject({ imageId: 'ami-0aaaabbbbccccdddd', imageReused: true, snapshots: [] });
      expect((result.details as PreserveDiskDetails).notes.join(' ')).toContain('no attached EBS volumes');
    } finally {
      mock.restore();
      destroyAwsClients(clients);
    }
  });
});
