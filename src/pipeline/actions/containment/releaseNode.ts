import { ExitStandbyCommand } from '@aws-sdk/client-auto-scaling';
import {
  DeleteTagsCommand,
  ModifyNetworkInterfaceAttributeCommand,
  StartInstancesCommand,
  waitUntilInstanceRunning,
  waitUntilInstanceStopped,
} from '@aws-sdk/client-ec2';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { AwsError, describeError } from '../../../errors.js';
import {
  autoScalingMembership,
  instanceEnis,
  isolationRecordKey,
  nodeRefSchema,
  readIsolationRecord,
  requireRecordStore,
  tagValue,
  TAG_INCIDENT,
  TAG_ISOLATED,
  type AsgMembership,
} from '../../isolation/isolationRecord.js';
import { awsCall, requireEc2 } from '../../forensics/ec2Helpers.js';
import { resolveInstance } from '../resolveInstance.js';
import { parseActionInput } from '../parseActionInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

const inputSchema = z.strictObject({
  node: nodeRefSchema,
});

export type ReleaseNodeInput = z.output<typeof inputSchema>;

type EniAction = 'restore' | 'already restored' | 'changed since isolation' | 'no longer attached';
type StandbyAction = 'exit' | 'already in service' | 'not entered by sentinel' | 'not in the group' | `left in ${string}`;
type StartAction = 'start' | 'already running' | 'not stopped by sentinel' | 'was not running before' | `left ${string}`;

export interface ReleaseNodeDetails {
  node: string;
  instanceId: string;
  securityGroups: { networkInterfaceId: string; before: string[]; after: string[]; action: EniAction }[];
  asg: { groupName: string; lifecycleStateBefore: string | null; action: StandbyAction; done: boolean } | null;
  start: { action: StartAction; done: boolean };
  tagsRemoved: string[];
  /** The attached network interfaces whose sentinel tags were (or, in a dry run, would be) removed. */
  interfaceTagsRemoved: string[];
  /** The isolation record: where it was, and the archived copy written on release. */
  record: { location: string; archivedTo: string | null; deleted: boolean };
  notes: string[];
}

const sameGroups = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join(',') === [...b].sort().join(',');

/** A waiter's wait, bounded; a timeout becomes an AwsError naming what was awaited. */
async function waitFor(what: string, wait: () => Promise<{ state: string; reason?: unknown }>): Promise<void> {
  const result = await awsCall(what, wait);
  if (result.state !== 'SUCCESS') throw new AwsError(`${what}: ${result.state}${result.reason ? ` (${describeError(result.reason)})` : ''}`);
}

/**
 * Undoes isolate-node from its saved record: puts each ENI back on its prior groups (only ENIs
 * still on the isolation group sentinel set; others were changed by someone and are left alone),
 * starts the instance if sentinel stopped it and it was running before, moves it out of standby
 * if sentinel put it there (after the start, so the group never sees a stopped in-service
 * instance), removes the sentinel tags from the instance and its ENIs (last: IAM allows the
 * group restore and the start only while they are tagged), and archives then deletes the record. `skipped` when there
 * is no record (not isolated by sentinel). A dry run changes nothing.
 */
export async function releaseNode(request: ActionRequest<ReleaseNodeInput>, deps: ActionDeps): Promise<ActionResult<ReleaseNodeDetails>> {
  const input = parseActionInput(inputSchema, request.input, 'release-node');
  const node = input.node;
  const ec2 = requireEc2(deps, 'release a node');
  const { s3, bucket } = requireRecordStore(deps, 'release a node');
  const instance = await resolveInstance(node, deps);
  const instanceId = instance.InstanceId!;
  const key = isolationRecordKey(instanceId);
  const location = `s3://${bucket}/${key}`;
  const notes: string[] = [];

  const stored = await readIsolationRecord(s3, bucket, instanceId);
  const state = instance.State?.Name ?? 'unknown';
  // A terminated instance cannot be re-tagged: only its record is archived.
  const tagsPresent = state === 'terminated' ? [] : [TAG_ISOLATED, TAG_INCIDENT].filter((k) => tagValue(instance, k) !== undefined);
  // isolate-node tags the ENIs too; DescribeInstances does not show ENI tags, and removing a tag
  // that is not there is a no-op, so every attached ENI is untagged.
  const attachedEnis = state === 'terminated' ? [] : instanceEnis(instance).map((e) => e.networkInterfaceId);
  if (!stored) {
    if (tagValue(instance, TAG_ISOLATED) === 'true') {
      notes.push(`instance is tagged ${TAG_ISOLATED}=true but has no isolation record at ${location}: restore it by hand`);
    }
    return skipped(`instance ${instanceId} is not isolated by sentinel (no isolation record)`, {
      node,
      instanceId,
      securityGroups: [],
      asg: null,
      start: { action: 'not stopped by sentinel', done: false },
      tagsRemoved: [],
      interfaceTagsRemoved: [],
      record: { location, archivedTo: null, deleted: false },
      notes,
    } satisfies ReleaseNodeDetails);
  }
  const record = stored.record;
  if (state === 'terminated') notes.push(`instance ${instanceId} is terminated: only its isolation record is archived`);

  // Plan: what to restore, from the record and the instance as it is now.
  const current = new Map(instanceEnis(instance).map((e) => [e.networkInterfaceId, e]));
  const enis = record.prior.networkInterfaces.map((prior) => {
    const now = current.get(prior.networkInterfaceId);
    let action: EniAction;
    if (!now) action = 'no longer attached';
    else if (sameGroups(now.groups, prior.groups)) action = 'already restored';
    else if (sameGroups(now.groups, [record.isolationGroupId])) action = 'restore';
    else action = 'changed since isolation';
    if (action === 'changed since isolation') {
      notes.push(`${prior.networkInterfaceId} is on ${now!.groups.join(', ')}, not the isolation group: left as is (prior: ${prior.groups.join(', ')})`);
    }
    if (action === 'no longer attached') notes.push(`${prior.networkInterfaceId} is no longer attached to ${instanceId}`);
    return { networkInterfaceId: prior.networkInterfaceId, before: now?.groups ?? [], prior: prior.groups, action };
  });

  let startAction: StartAction;
  if (!record.sentinel.stopped) startAction = 'not stopped by sentinel';
  else if (!['running', 'pending'].includes(record.prior.instanceState)) startAction = 'was not running before';
  else if (state === 'stopped' || state === 'stopping') startAction = 'start';
  else if (state === 'running' || state === 'pending') startAction = 'already running';
  else startAction = `left ${state}`;

  let membership: AsgMembership | null = null;
  let standbyAction: StandbyAction | undefined;
  if (record.sentinel.enteredStandby && record.prior.autoScaling) {
    membership = await autoScalingMembership(deps.aws.autoScaling, instance);
    if (!membership || membership.groupName !== record.prior.autoScaling.groupName) standbyAction = 'not in the group';
    else if (membership.lifecycleState === 'Standby') standbyAction = 'exit';
    else if (membership.lifecycleState === 'InService') standbyAction = 'already in service';
    else standbyAction = `left in ${membership.lifecycleState}`;
  } else if (record.prior.autoScaling) {
    standbyAction = 'not entered by sentinel';
  }
  const asgDetails = (done: boolean): ReleaseNodeDetails['asg'] =>
    record.prior.autoScaling && standbyAction
      ? { groupName: record.prior.autoScaling.groupName, lifecycleStateBefore: membership?.lifecycleState ?? null, action: standbyAction, done }
      : null;

  if (request.dryRun) {
    const restore = enis.filter((e) => e.action === 'restore');
    const parts = [
      `put ${restore.length} network interface(s) back on their prior groups`,
      ...(startAction === 'start' ? ['start it'] : []),
      ...(standbyAction === 'exit' ? [`move it out of standby in ${record.prior.autoScaling!.groupName}`] : []),
      ...(tagsPresent.length ? [`remove tags ${tagsPresent.join(', ')}`] : []),
      ...(attachedEnis.length ? [`remove sentinel's tags from ${attachedEnis.length} network interface(s)`] : []),
      `archive and delete ${location}`,
    ];
    return planned(`would release instance ${instanceId}: ${parts.join(', ')}`, {
      node,
      instanceId,
      securityGroups: enis.map((e) => ({
        networkInterfaceId: e.networkInterfaceId,
        before: e.before,
        after: e.action === 'restore' ? e.prior : e.before,
        action: e.action,
      })),
      asg: asgDetails(false),
      start: { action: startAction, done: false },
      tagsRemoved: tagsPresent,
      interfaceTagsRemoved: attachedEnis,
      record: { location, archivedTo: null, deleted: false },
      notes,
    } satisfies ReleaseNodeDetails);
  }

  // 1. Network first: each ENI back on exactly its prior groups.
  for (const eni of enis) {
    if (eni.action !== 'restore') continue;
    await awsCall(`ModifyNetworkInterfaceAttribute ${eni.networkInterfaceId}`, () =>
      ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eni.networkInterfaceId, Groups: eni.prior })),
    );
  }

  // 2. Start it (if sentinel stopped a running instance), and wait until it runs, before it goes back in service.
  if (startAction === 'start') {
    const waiter = { client: ec2, maxWaitTime: 300, minDelay: 2, maxDelay: 15 };
    if (state === 'stopping') await waitFor(`waiting for ${instanceId} to stop`, () => waitUntilInstanceStopped(waiter, { InstanceIds: [instanceId] }));
    await awsCall(`StartInstances ${instanceId}`, () => ec2.send(new StartInstancesCommand({ InstanceIds: [instanceId] })));
    await waitFor(`waiting for ${instanceId} to run`, () => waitUntilInstanceRunning(waiter, { InstanceIds: [instanceId] }));
  }

  // 3. Back in service (AWS raises the group's desired capacity by one on ExitStandby).
  if (standbyAction === 'exit') {
    const groupName = record.prior.autoScaling!.groupName;
    try {
      await deps.aws.autoScaling!.send(new ExitStandbyCommand({ AutoScalingGroupName: groupName, InstanceIds: [instanceId] }));
    } catch (err) {
      throw new AwsError(
        `ExitStandby of ${instanceId} in ${groupName} failed (network restored; rerun release-node to finish): ${describeError(err)}`,
        { cause: err },
      );
    }
    notes.push(`ExitStandby raises the desired capacity of ${groupName} by one; the group's scaling policies bring it back`);
  }

  // 4. Unmark it, last: until here the tags are what lets sentinel restore the groups and start it.
  if (tagsPresent.length > 0) {
    await awsCall(`DeleteTags on ${instanceId}`, () =>
      ec2.send(new DeleteTagsCommand({ Resources: [instanceId], Tags: tagsPresent.map((Key) => ({ Key })) })),
    );
  }
  if (attachedEnis.length > 0) {
    await awsCall(`DeleteTags on the network interfaces of ${instanceId}`, () =>
      ec2.send(new DeleteTagsCommand({ Resources: attachedEnis, Tags: [{ Key: TAG_ISOLATED }, { Key: TAG_INCIDENT }] })),
    );
  }

  // 5. Archive the record with how it was released, then delete it: the instance is no longer isolated.
  const releasedAt = deps.now().toISOString();
  const archiveKey = `isolations/released/${instanceId}/${releasedAt.replace(/[:.]/g, '-')}.json`;
  const archived = {
    ...record,
    released: {
      at: releasedAt,
      incidentId: request.incidentId,
      actor: request.actor,
      ...(request.reason ? { reason: request.reason } : {}),
      networkInterfaces: enis.map((e) => ({ networkInterfaceId: e.networkInterfaceId, action: e.action })),
      standby: standbyAction ?? null,
      start: startAction,
      tagsRemoved: tagsPresent,
      interfaceTagsRemoved: attachedEnis,
    },
  };
  await awsCall(`archiving isolation record to s3://${bucket}/${archiveKey}`, () =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: archiveKey, Body: `${JSON.stringify(archived, null, 2)}\n`, ContentType: 'application/json' })),
  );
  await awsCall(`deleting isolation record ${location}`, () => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })));

  const details: ReleaseNodeDetails = {
    node,
    instanceId,
    securityGroups: enis.map((e) => ({
      networkInterfaceId: e.networkInterfaceId,
      before: e.before,
      after: e.action === 'restore' ? e.prior : e.before,
      action: e.action,
    })),
    asg: asgDetails(standbyAction === 'exit'),
    start: { action: startAction, done: startAction === 'start' },
    tagsRemoved: tagsPresent,
    interfaceTagsRemoved: attachedEnis,
    record: { location, archivedTo: `s3://${bucket}/${archiveKey}`, deleted: true },
    notes,
  };
  deps.logger.info('node released', {
    instanceId,
    restored: enis.filter((e) => e.action === 'restore').map((e) => e.networkInterfaceId),
    standby: standbyAction ?? null,
    start: startAction,
    archivedTo: details.record.archivedTo,
  });
  const restored = enis.filter((e) => e.action === 'restore').length;
  const parts = [
    `${restored} network interface(s) back on their prior groups`,
    ...(startAction === 'start' ? ['started'] : []),
    ...(standbyAction === 'exit' ? [`back in service in ${record.prior.autoScaling!.groupName}`] : []),
  ];
  return succeeded(`released instance ${instanceId}: ${parts.join(', ')}`, details);
}

export const releaseNodeAction = defineAction({
  id: 'release-node',
  description:
    'Release a node isolated by isolate-node: restore each network interface\'s prior security groups, start the instance if sentinel stopped it, exit Auto Scaling standby if sentinel entered it, remove the sentinel tags from the instance and its network interfaces, and archive the isolation record.',
  permissions: {
    iam: [
      'ec2:DescribeInstances',
      'ec2:ModifyNetworkInterfaceAttribute',
      // Only when isolate-node stopped the instance.
      'ec2:StartInstances',
      'ec2:DeleteTags',
      'autoscaling:DescribeAutoScalingInstances',
      'autoscaling:ExitStandby',
      // isolations/* in the evidence bucket; ListBucket so a missing record reads as 404, not 403.
      's3:GetObject',
      's3:PutObject',
      's3:DeleteObject',
      's3:ListBucket',
    ],
    rbac: [
      // Only to resolve a node name to its instance (spec.providerID).
      { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
    ],
  },
  input: inputSchema,
  run: releaseNode,
});
