import { DescribeAutoScalingInstancesCommand, type AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { Instance } from '@aws-sdk/client-ec2';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { AwsError, AwsNotConfiguredError, ConfigError, ConflictError, describeError } from '../../errors.js';
import type { ActionDeps } from '../actions/types.js';
import { awsCall, isNotFound } from '../forensics/ec2Helpers.js';

/**
 * What isolate-node and release-node share: the node reference they take, the tags they set,
 * and the isolation record (the instance's state before sentinel changed it, kept in the
 * evidence bucket) that lets a release undo exactly what the isolation did.
 */

/** Tag on the instance while it is isolated (value `true`). */
export const TAG_ISOLATED = 'sentinel:isolated';
/** Tag on the instance and its evidence snapshots: the incident id. */
export const TAG_INCIDENT = 'sentinel:incident';
export const TAG_VOLUME = 'sentinel:volume';
export const TAG_INSTANCE = 'sentinel:instance';
/** Tag on the security groups sentinel creates for isolation (value `true`). */
export const TAG_ISOLATION_GROUP = 'sentinel:isolation';
export const ASG_NAME_TAG = 'aws:autoscaling:groupName';

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const PROVIDER_ID = /^aws:\/\/\/(?:[a-z0-9-]*\/)?i-[0-9a-f]{8,17}$/;
const NODE_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i;

/** A node name, a private DNS name, an instance id (`i-…`) or a provider id (`aws:///zone/i-…`). */
export const nodeRefSchema = z
  .string()
  .trim()
  .min(1)
  .max(253)
  .refine(
    (v) => INSTANCE_ID.test(v) || PROVIDER_ID.test(v) || NODE_NAME.test(v),
    'expected a node name, private DNS name, instance id (i-…) or provider id (aws:///zone/i-…)',
  );

/** Where an instance's isolation record lives in the evidence bucket. */
export function isolationRecordKey(instanceId: string): string {
  return `isolations/${instanceId}.json`;
}

const snapshotRefSchema = z.object({ volumeId: z.string(), deviceName: z.string().nullable(), snapshotId: z.string() });

const recordSchema = z.object({
  version: z.literal(1),
  instanceId: z.string(),
  vpcId: z.string(),
  isolationGroupId: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Every request that isolated (or completed the isolation of) this instance. */
  requests: z.array(z.object({ incidentId: z.string(), actor: z.string(), reason: z.string().optional(), at: z.string() })),
  /** The state before sentinel changed anything; written once and never overwritten while isolated. */
  prior: z.object({
    instanceState: z.string(),
    networkInterfaces: z.array(z.object({ networkInterfaceId: z.string(), deviceIndex: z.number().nullable(), groups: z.array(z.string()) })),
    autoScaling: z.object({ groupName: z.string(), lifecycleState: z.string() }).nullable(),
  }),
  /** What sentinel did (release undoes only these). */
  sentinel: z.object({
    enteredStandby: z.boolean(),
    /** Sentinel stopped (or was asked to stop) the instance. */
    stopped: z.boolean(),
    snapshots: z.array(snapshotRefSchema),
  }),
});

export type IsolationRecord = z.output<typeof recordSchema>;

export interface StoredRecord {
  record: IsolationRecord;
  etag: string | undefined;
}

/** Reads an instance's isolation record; undefined when there is none. */
export async function readIsolationRecord(s3: S3Client, bucket: string, instanceId: string): Promise<StoredRecord | undefined> {
  const key = isolationRecordKey(instanceId);
  let text: string;
  let etag: string | undefined;
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    text = (await out.Body?.transformToString('utf-8')) ?? '';
    etag = out.ETag;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw new AwsError(`reading isolation record s3://${bucket}/${key} failed: ${describeError(err)}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConflictError(`isolation record s3://${bucket}/${key} is not JSON; fix or remove it by hand`, { cause: err, code: 'CorruptRecord' });
  }
  const result = recordSchema.safeParse(parsed);
  if (!result.success || result.data.instanceId !== instanceId) {
    throw new ConflictError(`isolation record s3://${bucket}/${key} is not a valid record for ${instanceId}; fix or remove it by hand`, {
      code: 'CorruptRecord',
    });
  }
  return { record: result.data, etag };
}

export function tagValue(instance: Instance, key: string): string | undefined {
  return instance.Tags?.find((t) => t.Key === key)?.Value;
}

export interface InstanceEni {
  networkInterfaceId: string;
  deviceIndex: number | null;
  vpcId: string | undefined;
  groups: string[];
}

/** The instance's attached ENIs (by device index) with their current security groups. */
export function instanceEnis(instance: Instance): InstanceEni[] {
  return (instance.NetworkInterfaces ?? [])
    .filter((n): n is typeof n & { NetworkInterfaceId: string } => Boolean(n.NetworkInterfaceId))
    .map((n) => ({
      networkInterfaceId: n.NetworkInterfaceId,
      deviceIndex: n.Attachment?.DeviceIndex ?? null,
      vpcId: n.VpcId,
      groups: (n.Groups ?? []).map((g) => g.GroupId).filter((g): g is string => Boolean(g)),
    }))
    .sort((a, b) => (a.deviceIndex ?? 99) - (b.deviceIndex ?? 99) || a.networkInterfaceId.localeCompare(b.networkInterfaceId));
}

export interface AsgMembership {
  groupName: string;
  lifecycleState: string;
}

/** The instance's Auto Scaling group and lifecycle state, or null when it is in none. */
export async function autoScalingMembership(
  autoScaling: AutoScalingClient | undefined,
  instance: Instance,
): Promise<AsgMembership | null> {
  const instanceId = instance.InstanceId!;
  const tagged = tagValue(instance, ASG_NAME_TAG);
  if (!autoScaling) {
    if (tagged) throw new ConfigError(`instance ${instanceId} is in Auto Scaling group ${tagged} but no Auto Scaling client is configured`);
    return null;
  }
  const out = await awsCall(`DescribeAutoScalingInstances ${instanceId}`, () =>
    autoScaling.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] })),
  );
  const found = out.AutoScalingInstances?.find((a) => a.InstanceId === instanceId);
  if (found?.AutoScalingGroupName) return { groupName: found.AutoScalingGroupName, lifecycleState: found.LifecycleState ?? 'unknown' };
  return null;
}

export function requireRecordStore(deps: ActionDeps, what: string): { s3: S3Client; bucket: string } {
  const bucket = deps.settings.evidenceBucket;
  if (!bucket) throw new ConfigError(`SENTINEL_EVIDENCE_BUCKET is not set: cannot ${what} (the prior state is kept there)`);
  if (!deps.aws.s3) throw new AwsNotConfiguredError('S3', `cannot ${what}`);
  return { s3: deps.aws.s3, bucket };
}

