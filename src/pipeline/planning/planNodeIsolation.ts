/**
 * isolate-node's planning, without AWS: whether the instance may and can be isolated, which
 * isolation group to use, which snapshots of this incident already exist, whether it is already
 * isolated, what a dry run reports, and the isolation record a run saves (its prior state first,
 * never replaced by a later run). The action (actions/isolateNode.ts) reads and changes EC2,
 * Auto Scaling and S3 around these.
 */
import type { Instance, SecurityGroup, Snapshot } from '@aws-sdk/client-ec2';
import type { PipelineSettings } from '../../config.js';
import { ConfigError, ConflictError, ProtectedTargetError } from '../../errors.js';
import {
  TAG_ISOLATED,
  TAG_VOLUME,
  tagValue,
  instanceEnis,
  type AsgMembership,
  type InstanceEni,
  type IsolationRecord,
  type StoredRecord,
} from '../isolation/isolationRecord.js';

export const STANDBY_STATES: ReadonlySet<string> = new Set(['Standby', 'EnteringStandby']);
const STOPPABLE_STATES: ReadonlySet<string> = new Set(['pending', 'running']);
export const STOPPED_STATES: ReadonlySet<string> = new Set(['stopping', 'stopped']);

export const sameGroups = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join(',') === [...b].sort().join(',');

export interface IsolationGroupPlan {
  /** Null when it would be created (dry run). */
  groupId: string | null;
  name: string | null;
  source: 'configured' | 'existing' | 'created' | 'would create';
}

export interface SnapshotDetail {
  volumeId: string;
  deviceName: string | null;
  /** Null when it would be created (dry run). */
  snapshotId: string | null;
  /** An earlier run for this incident already took it. */
  reused: boolean;
}

export interface IsolateNodeDetails {
  node: string;
  instanceId: string;
  vpcId: string;
  isolationGroup: IsolationGroupPlan;
  snapshots: SnapshotDetail[];
  asg: { groupName: string; lifecycleStateBefore: string; standby: 'entered' | 'already' | 'would enter' | 'not possible' } | null;
  securityGroups: { networkInterfaceId: string; before: string[]; after: string[] }[];
  stopRequested: boolean;
  /** The instance is (or, in a dry run, would be) stopped by this run. */
  stopped: boolean;
  /** Stopping loses the instance's memory: true only when this run stops (or would stop) it. */
  destroysMemory: boolean;
  /** created/updated/kept: this run; exists/missing: already isolated (skipped); would …: dry run. */
  record: { location: string; state: 'created' | 'updated' | 'kept' | 'exists' | 'missing' | 'would create' | 'would update' };
  notes: string[];
}

/** The isolation group to use: configured, found (tagged in the VPC), or to create. */
export interface IsolationGroupChoice {
  groupId: string | null;
  name: string;
  source: 'configured' | 'existing' | 'create';
  /** The found group as described (its rules are revoked); undefined for a configured or new one. */
  rules: SecurityGroup | undefined;
}

/** What the preflight read, and what follows from it: everything the plan is made from. */
export interface NodeIsolationFacts {
  instance: Instance;
  instanceId: string;
  vpcId: string;
  state: string;
  group: IsolationGroupChoice;
  volumes: { volumeId: string; deviceName: string | null; existing: string | undefined }[];
  asg: AsgMembership | null;
  enis: InstanceEni[];
  stopRequested: boolean;
  willStop: boolean;
  record: { location: string; stored: StoredRecord | undefined };
  notes: string[];
}

/**
 * The instance may be isolated (not protected) and can be (not gone, in one VPC, with network
 * interfaces). Refusals come before anything else is read or changed.
 */
export function checkIsolationTarget(instance: Instance, settings: Pick<PipelineSettings, 'protectedTag'>): { instanceId: string; state: string; vpcId: string; enis: InstanceEni[] } {
  const instanceId = instance.InstanceId!;
  const protectedValue = tagValue(instance, settings.protectedTag);
  if (protectedValue !== undefined) {
    throw new ProtectedTargetError(`instance ${instanceId} is protected (tag ${settings.protectedTag}=${protectedValue}); sentinel never isolates it`, {
      details: { instanceId, tag: settings.protectedTag },
    });
  }
  const state = instance.State?.Name ?? 'unknown';
  if (state === 'terminated' || state === 'shutting-down') {
    throw new ConflictError(`instance ${instanceId} is ${state}; there is nothing to isolate`, { code: 'InstanceGone' });
  }
  const vpcId = instance.VpcId;
  if (!vpcId) throw new ConflictError(`instance ${instanceId} is not in a VPC; only VPC instances can be isolated`, { code: 'NotInVpc' });
  const enis = instanceEnis(instance);
  if (enis.length === 0) throw new ConflictError(`instance ${instanceId} has no network interfaces`, { code: 'NoNetworkInterfaces' });
  const foreign = enis.filter((e) => e.vpcId && e.vpcId !== vpcId);
  if (foreign.length > 0) {
    throw new ConflictError(`instance ${instanceId} has network interfaces in another VPC (${foreign.map((e) => `${e.networkInterfaceId} in ${e.vpcId}`).join(', ')}); isolate it by hand`, {
      code: 'MultiVpcInstance',
    });
  }
  return { instanceId, state, vpcId, enis };
}

export function ruleCount(group: SecurityGroup | undefined): number {
  return (group?.IpPermissions?.length ?? 0) + (group?.IpPermissionsEgress?.length ?? 0);
}

export function isolationGroupName(vpcId: string): string {
  return `sentinel-isolation-${vpcId}`;
}

/** SENTINEL_ISOLATION_SG_ID as described: it must exist in the instance's VPC; rules it has are noted. */
export function checkConfiguredGroup(group: SecurityGroup | undefined, configured: string, vpcId: string, notes: string[]): IsolationGroupChoice {
  if (!group) throw new ConfigError(`SENTINEL_ISOLATION_SG_ID ${configured} does not exist`);
  if (group.VpcId !== vpcId) throw new ConfigError(`SENTINEL_ISOLATION_SG_ID ${configured} is in ${group.VpcId ?? 'no VPC'}, not in the instance's VPC ${vpcId}`);
  const rules = ruleCount(group);
  if (rules > 0) notes.push(`the configured isolation group ${configured} has ${rules} rule(s); traffic they allow still flows`);
  return { groupId: configured, name: group.GroupName ?? configured, source: 'configured', rules: undefined };
}

/** Among the VPC's groups tagged as sentinel's isolation group, the first by id; else one to create. */
export function chooseIsolationGroup(tagged: readonly SecurityGroup[], vpcId: string): IsolationGroupChoice {
  const group = tagged.filter((g) => g.GroupId).sort((a, b) => a.GroupId!.localeCompare(b.GroupId!))[0];
  if (group) return { groupId: group.GroupId!, name: group.GroupName ?? group.GroupId!, source: 'existing', rules: group };
  return { groupId: null, name: isolationGroupName(vpcId), source: 'create', rules: undefined };
}

/** The instance's EBS volumes, each with this incident's snapshot of it when one exists (and has not failed). */
export function volumesToSnapshot(instance: Instance, incidentSnapshots: readonly Snapshot[]): NodeIsolationFacts['volumes'] {
  return (instance.BlockDeviceMappings ?? [])
    .filter((m) => m.Ebs?.VolumeId)
    .map((m) => {
      const volumeId = m.Ebs!.VolumeId!;
      const snap = incidentSnapshots.find((s) => s.State !== 'error' && s.Tags?.some((t) => t.Key === TAG_VOLUME && t.Value === volumeId));
      return { volumeId, deviceName: m.DeviceName ?? null, existing: snap?.SnapshotId };
    });
}

/** Whether this run stops the instance, and what to warn about the Auto Scaling group. */
export function planStop(state: string, stopRequested: boolean, asg: AsgMembership | null, notes: string[]): boolean {
  const outOfService = asg && asg.lifecycleState !== 'InService' && !STANDBY_STATES.has(asg.lifecycleState);
  if (outOfService) notes.push(`instance is ${asg.lifecycleState} in Auto Scaling group ${asg.groupName}: it cannot be moved to standby`);
  const willStop = stopRequested && STOPPABLE_STATES.has(state);
  if (willStop && outOfService) notes.push(`stopping it outside standby may make ${asg.groupName} replace (terminate) it`);
  return willStop;
}

/** Tag present, every ENI only on the isolation group, standby done, stopped when asked. */
export function alreadyIsolated(p: NodeIsolationFacts): boolean {
  const groupId = p.group.groupId;
  if (!groupId || tagValue(p.instance, TAG_ISOLATED) !== 'true') return false;
  if (!p.enis.every((e) => sameGroups(e.groups, [groupId]))) return false;
  if (p.asg && p.asg.lifecycleState === 'InService') return false;
  if (p.willStop) return false;
  return true;
}

export function groupPlan(p: NodeIsolationFacts, groupId: string | null, created: boolean, dryRun: boolean): IsolationGroupPlan {
  const source = p.group.source === 'create' ? (dryRun ? 'would create' : created ? 'created' : 'existing') : p.group.source;
  return { groupId, name: p.group.name, source };
}

type Base = Pick<IsolateNodeDetails, 'node' | 'instanceId' | 'vpcId' | 'stopRequested'>;

/** What an already isolated instance reports: only this incident's snapshots, nothing changed. */
export function alreadyIsolatedReport(p: NodeIsolationFacts, base: Base): { summary: string; details: IsolateNodeDetails } {
  const details: IsolateNodeDetails = {
    ...base,
    isolationGroup: groupPlan(p, p.group.groupId, false, false),
    // Only this incident's snapshots: another incident asking again takes none.
    snapshots: p.volumes.filter((v) => v.existing).map((v) => ({ volumeId: v.volumeId, deviceName: v.deviceName, snapshotId: v.existing!, reused: true })),
    asg: p.asg ? { groupName: p.asg.groupName, lifecycleStateBefore: p.asg.lifecycleState, standby: 'already' } : null,
    securityGroups: p.enis.map((e) => ({ networkInterfaceId: e.networkInterfaceId, before: e.groups, after: e.groups })),
    stopped: false,
    destroysMemory: false,
    record: { location: p.record.location, state: p.record.stored ? 'exists' : 'missing' },
    notes: p.record.stored ? [...p.notes] : [...p.notes, `no isolation record at ${p.record.location}: release cannot restore the prior groups`],
  };
  return { summary: `instance ${p.instanceId} is already isolated (security group ${p.group.groupId})`, details };
}

/** A dry run's plan: what would be snapshotted, moved, swapped and stopped. */
export function dryRunReport(p: NodeIsolationFacts, base: Base): { summary: string; details: IsolateNodeDetails } {
  const target = p.group.groupId ?? `${p.group.name} (would create)`;
  const standby = !p.asg ? undefined : p.asg.lifecycleState === 'InService' ? 'would enter' : STANDBY_STATES.has(p.asg.lifecycleState) ? 'already' : 'not possible';
  const details: IsolateNodeDetails = {
    ...base,
    isolationGroup: groupPlan(p, p.group.groupId, false, true),
    snapshots: p.volumes.map((v) => ({ volumeId: v.volumeId, deviceName: v.deviceName, snapshotId: v.existing ?? null, reused: Boolean(v.existing) })),
    asg: p.asg ? { groupName: p.asg.groupName, lifecycleStateBefore: p.asg.lifecycleState, standby: standby! } : null,
    securityGroups: p.enis.map((e) => ({ networkInterfaceId: e.networkInterfaceId, before: e.groups, after: [target] })),
    stopped: p.willStop,
    destroysMemory: p.willStop,
    record: { location: p.record.location, state: p.record.stored ? 'would update' : 'would create' },
    notes: [...p.notes],
  };
  const parts = [
    `snapshot ${p.volumes.filter((v) => !v.existing).length} volume(s)`,
    ...(p.asg?.lifecycleState === 'InService' ? [`move it to standby in ${p.asg.groupName}`] : []),
    `put ${p.enis.length} network interface(s) on ${target}`,
    ...(p.willStop ? ['stop it (memory is lost)'] : []),
  ];
  return { summary: `would isolate instance ${p.instanceId}: ${parts.join(', ')}`, details };
}

/** The record of a first isolation: the instance's state, groups and Auto Scaling state before it. */
export function newIsolationRecord(p: NodeIsolationFacts, groupId: string, at: string): IsolationRecord {
  return {
    version: 1,
    instanceId: p.instanceId,
    vpcId: p.vpcId,
    isolationGroupId: groupId,
    createdAt: at,
    updatedAt: at,
    requests: [],
    prior: {
      instanceState: p.state,
      // An ENI already on the isolation group (a partial earlier run) has no prior state worth restoring.
      networkInterfaces: p.enis.filter((e) => !sameGroups(e.groups, [groupId])).map((e) => ({ networkInterfaceId: e.networkInterfaceId, deviceIndex: e.deviceIndex, groups: e.groups })),
      autoScaling: p.asg ? { groupName: p.asg.groupName, lifecycleState: p.asg.lifecycleState } : null,
    },
    sentinel: { enteredStandby: false, stopped: false, snapshots: [] },
  };
}

/** Adds this run to a record without touching the prior state it already holds (except ENIs it does not know). */
export function mergeIsolationRecord(
  base: IsolationRecord,
  p: NodeIsolationFacts,
  request: { incidentId: string; actor: string; reason?: string | undefined },
  groupId: string,
  done: { enteredStandby: boolean; snapshots: readonly SnapshotDetail[] },
  at: string,
): IsolationRecord {
  const record: IsolationRecord = structuredClone(base);
  const known = new Set(record.prior.networkInterfaces.map((n) => n.networkInterfaceId));
  for (const e of p.enis) {
    if (!known.has(e.networkInterfaceId) && !sameGroups(e.groups, [groupId]) && !sameGroups(e.groups, [record.isolationGroupId])) {
      record.prior.networkInterfaces.push({ networkInterfaceId: e.networkInterfaceId, deviceIndex: e.deviceIndex, groups: e.groups });
    }
  }
  if (!record.prior.autoScaling && p.asg) record.prior.autoScaling = { groupName: p.asg.groupName, lifecycleState: p.asg.lifecycleState };
  record.isolationGroupId = groupId;
  record.sentinel.enteredStandby ||= done.enteredStandby;
  // Recorded before the stop is attempted: release starts the instance only if it is stopped then.
  record.sentinel.stopped ||= p.willStop;
  const snaps = new Set(record.sentinel.snapshots.map((s) => s.snapshotId));
  for (const s of done.snapshots) {
    if (s.snapshotId && !snaps.has(s.snapshotId)) record.sentinel.snapshots.push({ volumeId: s.volumeId, deviceName: s.deviceName, snapshotId: s.snapshotId });
  }
  if (!record.requests.some((r) => r.incidentId === request.incidentId)) {
    record.requests.push({ incidentId: request.incidentId, actor: request.actor, ...(request.reason ? { reason: request.reason } : {}), at });
  }
  if (JSON.stringify({ ...record, updatedAt: '' }) !== JSON.stringify({ ...base, updatedAt: '' })) record.updatedAt = at;
  return record;
}

/** The summary of a completed isolation. */
export function isolatedSummary(p: NodeIsolationFacts, done: { snapshots: readonly SnapshotDetail[]; standby: string | undefined; groupId: string; created: boolean }): string {
  const newSnaps = done.snapshots.filter((s) => !s.reused).length;
  const parts = [
    `${newSnaps} snapshot(s) taken${done.snapshots.length > newSnaps ? `, ${done.snapshots.length - newSnaps} reused` : ''}`,
    ...(done.standby === 'entered' ? [`moved to standby in ${p.asg!.groupName}`] : []),
    `${p.enis.length} network interface(s) on ${done.groupId}${done.created ? ' (created)' : ''}`,
    ...(p.willStop ? ['stopped'] : []),
  ];
  return `isolated instance ${p.instanceId}: ${parts.join(', ')}`;
}
