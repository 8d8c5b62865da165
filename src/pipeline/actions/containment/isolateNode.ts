import { EnterStandbyCommand, type AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import {
  CreateSecurityGroupCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  DescribeSecurityGroupsCommand,
  type DescribeSecurityGroupsCommandInput,
  DescribeSnapshotsCommand,
  ModifyNetworkInterfaceAttributeCommand,
  RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
  StopInstancesCommand,
  type EC2Client,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { AwsError, ConflictError, describeError } from '../../../errors.js';
import {
  TAG_ISOLATED,
  TAG_INCIDENT,
  TAG_VOLUME,
  TAG_INSTANCE,
  TAG_ISOLATION_GROUP,
  nodeRefSchema,
  isolationRecordKey,
  type IsolationRecord,
  type StoredRecord,
  readIsolationRecord,
  type AsgMembership,
  autoScalingMembership,
  requireRecordStore,
} from '../../isolation/isolationRecord.js';
import {
  alreadyIsolated,
  alreadyIsolatedReport,
  checkConfiguredGroup,
  checkIsolationTarget,
  chooseIsolationGroup,
  dryRunReport,
  groupPlan,
  isolatedSummary,
  mergeIsolationRecord,
  newIsolationRecord,
  planStop,
  ruleCount,
  sameGroups,
  STANDBY_STATES,
  STOPPED_STATES,
  volumesToSnapshot,
  type IsolateNodeDetails,
  type IsolationGroupChoice,
  type NodeIsolationFacts,
  type SnapshotDetail,
} from '../../planning/planNodeIsolation.js';
import { awsCall, awsErrorName, httpStatusOf, requireEc2 } from '../../forensics/ec2Helpers.js';
import { resolveInstance } from '../resolveInstance.js';
import { parseActionInput } from '../parseActionInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

// ---------------------------------------------------------------------------------------------
// isolate-node
// ---------------------------------------------------------------------------------------------

const inputSchema = z.strictObject({
  node: nodeRefSchema,
  /** Also stop the instance (destroys memory); `SENTINEL_ISOLATE_STOP_INSTANCE` when absent. */
  stopInstance: z.boolean().optional(),
});

export type IsolateNodeInput = z.output<typeof inputSchema>;

// The plan's types, for callers and tests.
export type { IsolateNodeDetails, IsolationGroupPlan, SnapshotDetail } from '../../planning/planNodeIsolation.js';

/** The facts the plan is made from, with the record store the run writes to. */
interface Preflight extends NodeIsolationFacts {
  record: { s3: S3Client; bucket: string; key: string; location: string; stored: StoredRecord | undefined };
}

async function describeGroups(ec2: EC2Client, input: DescribeSecurityGroupsCommandInput, what: string): Promise<SecurityGroup[]> {
  try {
    const out = await ec2.send(new DescribeSecurityGroupsCommand(input));
    return out.SecurityGroups ?? [];
  } catch (err) {
    if (awsErrorName(err) === 'InvalidGroup.NotFound') return [];
    throw new AwsError(`DescribeSecurityGroups (${what}) failed: ${describeError(err)}`, { cause: err });
  }
}

async function findIsolationGroup(ec2: EC2Client, vpcId: string, configured: string | undefined, notes: string[]): Promise<IsolationGroupChoice> {
  if (configured) {
    const [group] = await describeGroups(ec2, { GroupIds: [configured] }, configured);
    return checkConfiguredGroup(group, configured, vpcId, notes);
  }
  const tagged = await describeGroups(
    ec2,
    { Filters: [{ Name: 'vpc-id', Values: [vpcId] }, { Name: `tag:${TAG_ISOLATION_GROUP}`, Values: ['true'] }] },
    `isolation group in ${vpcId}`,
  );
  return chooseIsolationGroup(tagged, vpcId);
}

async function preflight(request: ActionRequest<IsolateNodeInput>, deps: ActionDeps, stopRequested: boolean): Promise<Preflight> {
  const ec2 = requireEc2(deps, 'isolate a node');
  const store = requireRecordStore(deps, 'isolate a node');
  const instance = await resolveInstance(request.input.node, deps);
  const notes: string[] = [];
  // Refuse protected instances before anything else is read or changed.
  const { instanceId, state, vpcId, enis } = checkIsolationTarget(instance, deps.settings);

  const group = await findIsolationGroup(ec2, vpcId, deps.settings.isolationSecurityGroupId, notes);

  const ebs = (instance.BlockDeviceMappings ?? []).filter((m) => m.Ebs?.VolumeId);
  const incidentSnapshots =
    ebs.length === 0
      ? []
      : ((
          await awsCall(`DescribeSnapshots for incident ${request.incidentId}`, () =>
            ec2.send(
              new DescribeSnapshotsCommand({
                OwnerIds: ['self'],
                Filters: [
                  { Name: `tag:${TAG_INCIDENT}`, Values: [request.incidentId] },
                  { Name: `tag:${TAG_INSTANCE}`, Values: [instanceId] },
                ],
              }),
            ),
          )
        ).Snapshots ?? []);
  const volumes = volumesToSnapshot(instance, incidentSnapshots);

  const asg = await autoScalingMembership(deps.aws.autoScaling, instance);
  const willStop = planStop(state, stopRequested, asg, notes);

  const key = isolationRecordKey(instanceId);
  const stored = await readIsolationRecord(store.s3, store.bucket, instanceId);
  if (stored) notes.push(`an isolation record from ${stored.record.createdAt} was never released: its prior state is kept`);
  return {
    instance,
    instanceId,
    vpcId,
    state,
    group,
    volumes,
    asg,
    enis,
    stopRequested,
    willStop,
    record: { ...store, key, location: `s3://${store.bucket}/${key}`, stored },
    notes,
  };
}

/** Creates the per-VPC isolation group (or finds the one a concurrent run created) and makes sure it has no rules. */
async function ensureIsolationGroup(ec2: EC2Client, p: Preflight, notes: string[]): Promise<{ groupId: string; created: boolean }> {
  let groupId = p.group.groupId;
  let created = false;
  let group = p.group.rules;
  if (p.group.source === 'configured') return { groupId: groupId!, created: false };
  if (!groupId) {
    const name = p.group.name;
    try {
      const out = await ec2.send(
        new CreateSecurityGroupCommand({
          GroupName: name,
          Description: 'sentinel isolation: no inbound or outbound rules',
          VpcId: p.vpcId,
          TagSpecifications: [
            { ResourceType: 'security-group', Tags: [{ Key: TAG_ISOLATION_GROUP, Value: 'true' }, { Key: 'Name', Value: name }] },
          ],
        }),
      );
      groupId = out.GroupId ?? null;
      created = true;
    } catch (err) {
      if (awsErrorName(err) !== 'InvalidGroup.Duplicate') {
        throw new AwsError(`CreateSecurityGroup ${name} in ${p.vpcId} failed: ${describeError(err)}`, { cause: err });
      }
    }
    const [found] = await describeGroups(
      ec2,
      groupId ? { GroupIds: [groupId] } : { Filters: [{ Name: 'vpc-id', Values: [p.vpcId] }, { Name: 'group-name', Values: [name] }] },
      `isolation group ${name}`,
    );
    if (!found?.GroupId) throw new AwsError(`isolation group ${name} in ${p.vpcId} cannot be found after creating it`);
    if (!created && !found.Tags?.some((t) => t.Key === TAG_ISOLATION_GROUP && t.Value === 'true')) {
      throw new ConflictError(`a security group named ${name} exists in ${p.vpcId} without the ${TAG_ISOLATION_GROUP}=true tag; sentinel will not use it`, {
        code: 'IsolationGroupConflict',
      });
    }
    groupId = found.GroupId;
    group = found;
  }
  // No rules at all: revoke the default egress rule of a new group, and anything added to an existing one.
  if (group?.IpPermissionsEgress?.length) {
    const perms = group.IpPermissionsEgress;
    await awsCall(`RevokeSecurityGroupEgress ${groupId}`, () => ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: groupId!, IpPermissions: perms })));
    if (!created) notes.push(`revoked ${perms.length} egress rule(s) found on isolation group ${groupId}`);
  }
  if (group?.IpPermissions?.length) {
    const perms = group.IpPermissions;
    await awsCall(`RevokeSecurityGroupIngress ${groupId}`, () => ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId!, IpPermissions: perms })));
    notes.push(`revoked ${perms.length} ingress rule(s) found on isolation group ${groupId}`);
  }
  if (ruleCount(group) > 0) {
    const [after] = await describeGroups(ec2, { GroupIds: [groupId!] }, `isolation group ${groupId}`);
    if (!after || ruleCount(after) > 0) {
      throw new ConflictError(`isolation group ${groupId} still has rules after revoking them; nothing was isolated`, { code: 'IsolationGroupNotEmpty' });
    }
  }
  return { groupId: groupId!, created };
}

async function takeSnapshots(ec2: EC2Client, p: Preflight, incidentId: string): Promise<SnapshotDetail[]> {
  const out: SnapshotDetail[] = [];
  for (const v of p.volumes) {
    if (v.existing) {
      out.push({ volumeId: v.volumeId, deviceName: v.deviceName, snapshotId: v.existing, reused: true });
      continue;
    }
    const snap = await awsCall(`CreateSnapshot of ${v.volumeId}`, () =>
      ec2.send(
        new CreateSnapshotCommand({
          VolumeId: v.volumeId,
          Description: `sentinel isolation evidence: incident ${incidentId}, instance ${p.instanceId}, ${v.deviceName ?? v.volumeId}`,
          TagSpecifications: [
            {
              ResourceType: 'snapshot',
              Tags: [
                { Key: TAG_INCIDENT, Value: incidentId },
                { Key: TAG_VOLUME, Value: v.volumeId },
                { Key: TAG_INSTANCE, Value: p.instanceId },
              ],
            },
          ],
        }),
      ),
    );
    if (!snap.SnapshotId) throw new AwsError(`CreateSnapshot of ${v.volumeId} returned no snapshot id`);
    out.push({ volumeId: v.volumeId, deviceName: v.deviceName, snapshotId: snap.SnapshotId, reused: false });
  }
  return out;
}

/** Moves the instance to standby without shrinking the group. "Not InService" means it is there already. */
async function enterStandby(autoScaling: AutoScalingClient, asg: AsgMembership, instanceId: string): Promise<'entered' | 'already'> {
  try {
    await autoScaling.send(
      new EnterStandbyCommand({ AutoScalingGroupName: asg.groupName, InstanceIds: [instanceId], ShouldDecrementDesiredCapacity: false }),
    );
    return 'entered';
  } catch (err) {
    if (awsErrorName(err) === 'ValidationError' && /not in InService/i.test(describeError(err))) return 'already';
    throw new AwsError(`EnterStandby of ${instanceId} in ${asg.groupName} failed: ${describeError(err)}`, { cause: err });
  }
}

function isPreconditionFailed(err: unknown): boolean {
  return awsErrorName(err) === 'PreconditionFailed' || httpStatusOf(err) === 412;
}

/**
 * Saves the record: created once (If-None-Match), then updated only with If-Match, so a concurrent
 * run never replaces the prior state another run saved. Returns what happened to the record.
 */
async function saveRecord(
  p: Preflight,
  build: (base: IsolationRecord | undefined) => IsolationRecord,
): Promise<'created' | 'updated' | 'kept'> {
  const { s3, bucket, key, location } = p.record;
  let stored = p.record.stored;
  for (let attempt = 0; attempt < 4; attempt += 1) {
    const record = build(stored?.record);
    if (stored && JSON.stringify(record) === JSON.stringify(stored.record)) return 'kept';
    try {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: `${JSON.stringify(record, null, 2)}\n`,
          ContentType: 'application/json',
          ...(stored ? { IfMatch: stored.etag ?? '*' } : { IfNoneMatch: '*' }),
        }),
      );
      return stored ? 'updated' : 'created';
    } catch (err) {
      if (!isPreconditionFailed(err)) throw new AwsError(`saving isolation record ${location} failed: ${describeError(err)}`, { cause: err });
    }
    // Someone else wrote it meanwhile: build on what they saved.
    stored = await readIsolationRecord(s3, bucket, p.instanceId);
  }
  throw new ConflictError(`isolation record ${location} keeps changing under this run; try again`, { code: 'RecordConflict' });
}

/**
 * Isolates the EC2 instance behind a node: snapshots its EBS volumes (evidence first), moves it
 * to Auto Scaling standby (without shrinking the group), saves its prior state to S3, tags it and
 * its ENIs `sentinel:isolated=true` (IAM allows the next two steps only on what carries that
 * tag), swaps every ENI onto an isolation security group with no rules, and optionally stops it.
 *
 * Instances carrying the protected tag (`SENTINEL_PROTECTED_TAG`, any value) are refused before
 * any change. Idempotent: reruns reuse the incident's snapshots and the saved prior state and
 * complete what is missing; `skipped` when already isolated. A dry run changes nothing.
 */
export async function isolateNode(request: ActionRequest<IsolateNodeInput>, deps: ActionDeps): Promise<ActionResult<IsolateNodeDetails>> {
  const input = parseActionInput(inputSchema, request.input, 'isolate-node');
  const stopRequested = input.stopInstance ?? deps.settings.stopOnIsolate;
  const p = await preflight({ ...request, input }, deps, stopRequested);
  const ec2 = requireEc2(deps, 'isolate a node');
  const notes = [...p.notes];
  const base = { node: input.node, instanceId: p.instanceId, vpcId: p.vpcId, stopRequested };

  if (alreadyIsolated(p)) {
    const { summary, details } = alreadyIsolatedReport(p, base);
    return request.dryRun ? planned(`${summary}; nothing to do`, details) : skipped(summary, details);
  }
  if (request.dryRun) {
    const { summary, details } = dryRunReport(p, base);
    return planned(summary, details);
  }

  // (0) The isolation group, before any other change: it may need creating.
  const { groupId, created } = await ensureIsolationGroup(ec2, p, notes);

  // (a) Evidence first: snapshot every attached EBS volume.
  const snapshots = await takeSnapshots(ec2, p, request.incidentId);

  // (b) Out of service without shrinking the group (a replacement is launched).
  let standby: NonNullable<IsolateNodeDetails['asg']>['standby'] | undefined;
  if (p.asg) {
    if (p.asg.lifecycleState === 'InService') standby = await enterStandby(deps.aws.autoScaling!, p.asg, p.instanceId);
    else standby = STANDBY_STATES.has(p.asg.lifecycleState) ? 'already' : 'not possible';
  }

  // (c) The prior state, before any group changes.
  const at = deps.now().toISOString();
  const recordState = await saveRecord(p, (stored) =>
    mergeIsolationRecord(stored ?? newIsolationRecord(p, groupId, at), p, request, groupId, { enteredStandby: standby === 'entered', snapshots }, at),
  );

  // (d) Mark the instance and its ENIs before changing them: IAM lets sentinel swap the groups of
  // an ENI, and stop an instance, only when they carry sentinel:isolated=true (docs/permissions/isolation.md).
  await awsCall(`CreateTags on ${p.instanceId} and its network interfaces`, () =>
    ec2.send(
      new CreateTagsCommand({
        Resources: [p.instanceId, ...p.enis.map((e) => e.networkInterfaceId)],
        Tags: [
          { Key: TAG_ISOLATED, Value: 'true' },
          { Key: TAG_INCIDENT, Value: request.incidentId },
        ],
      }),
    ),
  );

  // (e) Every ENI onto the isolation group only.
  const securityGroups: IsolateNodeDetails['securityGroups'] = [];
  for (const eni of p.enis) {
    if (!sameGroups(eni.groups, [groupId])) {
      await awsCall(`ModifyNetworkInterfaceAttribute ${eni.networkInterfaceId}`, () =>
        ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eni.networkInterfaceId, Groups: [groupId] })),
      );
    }
    securityGroups.push({ networkInterfaceId: eni.networkInterfaceId, before: eni.groups, after: [groupId] });
  }

  // (f) Optionally stop it (memory is lost).
  if (p.willStop) {
    await awsCall(`StopInstances ${p.instanceId}`, () => ec2.send(new StopInstancesCommand({ InstanceIds: [p.instanceId] })));
  } else if (stopRequested && !STOPPED_STATES.has(p.state)) {
    notes.push(`not stopped: instance is ${p.state}`);
  }

  const details: IsolateNodeDetails = {
    ...base,
    isolationGroup: groupPlan(p, groupId, created, false),
    snapshots,
    asg: p.asg ? { groupName: p.asg.groupName, lifecycleStateBefore: p.asg.lifecycleState, standby: standby! } : null,
    securityGroups,
    stopped: p.willStop,
    destroysMemory: p.willStop,
    record: { location: p.record.location, state: recordState },
    notes,
  };
  deps.logger.info('node isolated', {
    instanceId: p.instanceId,
    isolationGroupId: groupId,
    isolationGroupCreated: created,
    snapshots: snapshots.map((s) => s.snapshotId),
    standby: standby ?? null,
    stopped: p.willStop,
    record: p.record.location,
  });
  return succeeded(isolatedSummary(p, { snapshots, standby, groupId, created }), details);
}

export const isolateNodeAction = defineAction({
  id: 'isolate-node',
  containment: true,
  description:
    'Isolate the EC2 instance behind a node: snapshot its EBS volumes, move it to Auto Scaling standby, save its prior state, tag it and its network interfaces, put every network interface on an isolation security group with no rules, and optionally stop it (destroys memory). Undo with release-node.',
  permissions: {
    iam: [
      'ec2:DescribeInstances',
      'ec2:DescribeSecurityGroups',
      'ec2:DescribeSnapshots',
      'ec2:CreateSnapshot',
      'ec2:CreateTags',
      'ec2:ModifyNetworkInterfaceAttribute',
      // Only without SENTINEL_ISOLATION_SG_ID: the per-VPC isolation group, emptied of rules.
      'ec2:CreateSecurityGroup',
      'ec2:RevokeSecurityGroupEgress',
      'ec2:RevokeSecurityGroupIngress',
      // Only when stopping (stopInstance or SENTINEL_ISOLATE_STOP_INSTANCE).
      'ec2:StopInstances',
      'autoscaling:DescribeAutoScalingInstances',
      'autoscaling:EnterStandby',
      // isolations/* in the evidence bucket; ListBucket so a missing record reads as 404, not 403.
      's3:GetObject',
      's3:PutObject',
      's3:ListBucket',
    ],
    rbac: [
      // Only to resolve a node name to its instance (spec.providerID).
      { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
    ],
  },
  input: inputSchema,
  // Only a stop destroys memory: the input's stopInstance, else SENTINEL_ISOLATE_STOP_INSTANCE.
  // The result says whether this run actually stopped it (details.destroysMemory).
  destroysMemory: (input, settings) => input.stopInstance ?? settings.stopOnIsolate,
  run: isolateNode,
});
