import {
  CreateImageCommand,
  CreateSnapshotCommand,
  DescribeImagesCommand,
  paginateDescribeSnapshots,
  type EC2Client,
  type Image,
  type Instance,
  type Snapshot,
} from '@aws-sdk/client-ec2';
import { z } from 'zod';
import { AwsError, ConflictError } from '../../../errors.js';
import type { EvidenceItem } from '../../evidence/types.js';
import { awsCall, awsErrorName, findInstance, instanceIdSchema, requireEc2, safeIncident } from '../../forensics/ec2Helpers.js';
import { parseActionInput } from '../parseActionInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

/** Tags on every snapshot and image preserve-disk makes (the same keys isolate-node uses). */
export const TAG_INCIDENT = 'sentinel:incident';
export const TAG_INSTANCE = 'sentinel:instance';
export const TAG_VOLUME = 'sentinel:volume';
export const TAG_DEVICE = 'sentinel:device';

/** EC2 tag values: at most 256 characters. */
const tagValue = (v: string) => v.slice(0, 256);

const inputSchema = z.strictObject({
  instanceId: instanceIdSchema,
  /** Also register an AMI of the instance (CreateImage with NoReboot: no memory is lost). */
  createAmi: z.boolean().default(false),
});

export type PreserveDiskInput = z.input<typeof inputSchema>;

export interface PreservedSnapshot {
  volumeId: string;
  /** Null in a dry run when it would be created. */
  snapshotId: string | null;
  device: string | null;
  /** An earlier run for this incident took it. */
  reused: boolean;
  state?: string;
}

export interface PreserveDiskDetails {
  instanceId: string;
  snapshots: PreservedSnapshot[];
  imageId?: string;
  imageName?: string;
  imageReused?: boolean;
  evidence: EvidenceItem[];
  notes: string[];
}

/** `sentinel-<incident>-<instance>`: AMI names allow [A-Za-z0-9()[] ./'@_-], 3 to 128 characters. */
export function imageName(incidentId: string, instanceId: string): string {
  const incident = safeIncident(incidentId).slice(0, 128 - 'sentinel--'.length - instanceId.length);
  return `sentinel-${incident}-${instanceId}`;
}

interface Volume {
  volumeId: string;
  device: string | null;
  existing: Snapshot | undefined;
}

function tagOf(resource: { Tags?: { Key?: string; Value?: string }[] }, key: string): string | undefined {
  return resource.Tags?.find((t) => t.Key === key)?.Value;
}

async function incidentSnapshots(ec2: EC2Client, incidentId: string, instanceId: string): Promise<Snapshot[]> {
  return awsCall(`DescribeSnapshots for incident ${incidentId}`, async () => {
    const found: Snapshot[] = [];
    const pages = paginateDescribeSnapshots(
      { client: ec2 },
      {
        OwnerIds: ['self'],
        Filters: [
          { Name: `tag:${TAG_INCIDENT}`, Values: [tagValue(incidentId)] },
          { Name: `tag:${TAG_INSTANCE}`, Values: [instanceId] },
        ],
      },
    );
    for await (const page of pages) found.push(...(page.Snapshots ?? []));
    return found;
  });
}

function attachedVolumes(instance: Instance): Omit<Volume, 'existing'>[] {
  return (instance.BlockDeviceMappings ?? [])
    .filter((m) => m.Ebs?.VolumeId)
    .map((m) => ({ volumeId: m.Ebs!.VolumeId!, device: m.DeviceName ?? null }));
}

async function findImage(ec2: EC2Client, name: string): Promise<Image | undefined> {
  const out = await awsCall(`DescribeImages ${name}`, () =>
    ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: [name] }] })),
  );
  return (out.Images ?? []).find((i) => i.Name === name && i.State !== 'failed' && i.State !== 'deregistered' && i.State !== 'error');
}

function snapshotEvidence(s: PreservedSnapshot, instanceId: string, deps: ActionDeps, at: string): EvidenceItem {
  return {
    kind: 'ebs-snapshot',
    location: `ebs-snapshot:${s.snapshotId}`,
    collector: deps.settings.collector,
    collectedAt: at,
    source: { instanceId, volumeId: s.volumeId, ...(s.device ? { device: s.device } : {}) },
  };
}

/**
 * Preserves an EC2 instance's disks: a snapshot of every attached EBS volume, tagged with the
 * incident, instance, volume and device, and optionally an AMI (CreateImage with NoReboot, so
 * the instance and its memory are untouched) named `sentinel-<incident>-<instance>`. Idempotent:
 * snapshots of this incident and instance (found by tags) and an image of that name are
 * reused; `skipped` when everything already exists. A dry run describes and changes nothing.
 * Snapshots are crash-consistent and complete in the background (state `pending`).
 */
export async function preserveDisk(request: ActionRequest<PreserveDiskInput>, deps: ActionDeps): Promise<ActionResult<PreserveDiskDetails | Record<string, unknown>>> {
  const input = parseActionInput(inputSchema, request.input, 'preserve-disk');
  const { instanceId, createAmi } = input;
  const ec2 = requireEc2(deps, 'preserve disks');
  const { incidentId } = request;
  const notes: string[] = [];

  // Preflight.
  const instance = await findInstance(ec2, instanceId);
  const state = instance.State?.Name ?? 'unknown';
  if (state === 'terminated' || state === 'shutting-down') {
    throw new ConflictError(`instance ${instanceId} is ${state}: its volumes cannot be preserved through it`, { code: 'InstanceGone' });
  }
  const existing = await incidentSnapshots(ec2, incidentId, instanceId);
  const volumes: Volume[] = attachedVolumes(instance).map((v) => ({
    ...v,
    existing: existing.find((s) => s.State !== 'error' && tagOf(s, TAG_VOLUME) === v.volumeId),
  }));
  if (volumes.length === 0) notes.push(`instance ${instanceId} has no attached EBS volumes (instance store is not preserved)`);
  const name = imageName(incidentId, instanceId);
  const image = createAmi ? await findImage(ec2, name) : undefined;

  const plan = (): PreservedSnapshot[] =>
    volumes.map((v) => ({ volumeId: v.volumeId, snapshotId: v.existing?.SnapshotId ?? null, device: v.device, reused: Boolean(v.existing), ...(v.existing?.State ? { state: v.existing.State } : {}) }));

  if (request.dryRun) {
    const toTake = volumes.filter((v) => !v.existing).length;
    return planned(
      `would snapshot ${toTake} of ${volumes.length} volume(s) of ${instanceId}${createAmi ? (image ? `, reuse image ${image.ImageId}` : `, create image ${name}`) : ''}`,
      { instanceId, snapshots: plan(), ...(createAmi ? { imageName: name, imageId: image?.ImageId ?? null, imageReused: Boolean(image) } : {}), notes },
    );
  }

  const at = deps.now().toISOString();
  const allThere = volumes.every((v) => v.existing) && (!createAmi || image);
  if (allThere) {
    const snapshots = plan();
    const details: PreserveDiskDetails = {
      instanceId,
      snapshots,
      ...(createAmi && image ? { imageId: image.ImageId!, imageName: name, imageReused: true } : {}),
      evidence: snapshots.map((s) => snapshotEvidence(s, instanceId, deps, at)),
      notes,
    };
    return skipped(`the disks of ${instanceId} are already preserved for this incident (${snapshots.length} snapshot(s)${details.imageId ? `, image ${details.imageId}` : ''})`, details);
  }

  const snapshots: PreservedSnapshot[] = [];
  for (const v of volumes) {
    if (v.existing?.SnapshotId) {
      snapshots.push({ volumeId: v.volumeId, snapshotId: v.existing.SnapshotId, device: v.device, reused: true, ...(v.existing.State ? { state: v.existing.State } : {}) });
      continue;
    }
    const snap = await awsCall(`CreateSnapshot of ${v.volumeId}`, () =>
      ec2.send(
        new CreateSnapshotCommand({
          VolumeId: v.volumeId,
          Description: `sentinel evidence: incident ${safeIncident(incidentId)}, instance ${instanceId}, ${v.device ?? v.volumeId}`.slice(0, 255),
          TagSpecifications: [
            {
              ResourceType: 'snapshot',
              Tags: [
                { Key: TAG_INCIDENT, Value: tagValue(incidentId) },
                { Key: TAG_INSTANCE, Value: instanceId },
                { Key: TAG_VOLUME, Value: v.volumeId },
                ...(v.device ? [{ Key: TAG_DEVICE, Value: tagValue(v.device) }] : []),
              ],
            },
          ],
        }),
      ),
    );
    if (!snap.SnapshotId) throw new AwsError(`CreateSnapshot of ${v.volumeId} returned no snapshot id`);
    snapshots.push({ volumeId: v.volumeId, snapshotId: snap.SnapshotId, device: v.device, reused: false, ...(snap.State ? { state: snap.State } : {}) });
  }

  let imageId: string | undefined;
  let imageReused = false;
  if (createAmi) {
    if (image?.ImageId) {
      imageId = image.ImageId;
      imageReused = true;
    } else {
      const tags = [
        { Key: TAG_INCIDENT, Value: tagValue(incidentId) },
        { Key: TAG_INSTANCE, Value: instanceId },
      ];
      try {
        const out = await ec2.send(
          new CreateImageCommand({
            InstanceId: instanceId,
            Name: name,
            Description: `sentinel evidence image of ${instanceId} (incident ${safeIncident(incidentId)})`.slice(0, 255),
            NoReboot: true,
            TagSpecifications: [
              { ResourceType: 'image', Tags: tags },
              { ResourceType: 'snapshot', Tags: tags },
            ],
          }),
        );
        imageId = out.ImageId;
      } catch (err) {
        // Another run registered it between our DescribeImages and CreateImage.
        if (awsErrorName(err) !== 'InvalidAMIName.Duplicate') throw new AwsError(`CreateImage ${name} failed: ${(err as Error).message}`, { cause: err });
        const raced = await findImage(ec2, name);
        if (!raced?.ImageId) throw new AwsError(`CreateImage ${name} reported a duplicate name, but no such image was found`, { cause: err });
        imageId = raced.ImageId;
        imageReused = true;
      }
      if (!imageId) throw new AwsError(`CreateImage ${name} returned no image id`);
    }
  }

  const evidence = snapshots.map((s) => snapshotEvidence(s, instanceId, deps, at));
  if (imageId) {
    evidence.push({ kind: 'ami', location: `ami:${imageId}`, collector: deps.settings.collector, collectedAt: at, source: { instanceId, name } });
  }
  const taken = snapshots.filter((s) => !s.reused).length;
  const details: PreserveDiskDetails = {
    instanceId,
    snapshots,
    ...(imageId ? { imageId, imageName: name, imageReused } : {}),
    evidence,
    notes,
  };
  const parts = [
    `${taken} snapshot(s) taken${snapshots.length > taken ? `, ${snapshots.length - taken} reused` : ''}`,
    ...(imageId ? [`image ${imageId}${imageReused ? ' (reused)' : ' registered (no reboot)'}`] : []),
  ];
  return succeeded(`preserved the disks of ${instanceId}: ${parts.join(', ')}`, details);
}

export const preserveDiskAction = defineAction({
  id: 'preserve-disk',
  description:
    'Snapshot every attached EBS volume of an EC2 instance (tagged with incident, instance, volume and device; reused on reruns) and optionally register an AMI with NoReboot named sentinel-<incident>-<instance>. Nothing on the instance changes and its memory is kept.',
  permissions: {
    iam: [
      'ec2:DescribeInstances',
      'ec2:DescribeSnapshots',
      'ec2:CreateSnapshot',
      // Only tagging at creation (condition ec2:CreateAction = CreateSnapshot, CreateImage).
      'ec2:CreateTags',
      // Only with createAmi.
      'ec2:DescribeImages',
      'ec2:CreateImage',
    ],
    rbac: [],
  },
  input: inputSchema,
  // CreateImage runs with NoReboot: memory survives.
  destroysMemory: false,
  run: (request, deps) => preserveDisk(request, deps),
});
