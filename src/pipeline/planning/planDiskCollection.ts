/**
 * collect-disk's planning, without AWS: which forensic instance and snapshots are acceptable,
 * which of this incident's temporary volumes to reuse and which to remove, which device names are
 * free and which volume goes where, and how to read what the collection script printed and what the
 * cleanup did. The action (actions/collectFromDisk.ts) does the I/O around these.
 */
import { createHash } from 'node:crypto';
import type { Instance, Snapshot, Volume } from '@aws-sdk/client-ec2';
import type { PipelineSettings } from '../../config.js';
import { AwsError, ConflictError, LimitExceededError, NotFoundError, ProtectedTargetError } from '../../errors.js';
import { DEVICE_NAMES } from '../forensics/diskCollectScript.js';
import { refuseProtected } from '../forensics/ec2Helpers.js';

/** The incident id (the same tag preserve-disk and isolate-node put on snapshots). */
export const TAG_INCIDENT = 'sentinel:incident';
/** `true` on volumes sentinel creates only to read them: always deleted afterwards. */
export const TAG_TEMPORARY = 'sentinel:temporary';
/** The snapshot a temporary volume was made from. */
export const TAG_SNAPSHOT = 'sentinel:snapshot';
/** The compromised instance the evidence belongs to. */
export const TAG_SOURCE_INSTANCE = 'sentinel:instance';
/** `true` on the instances allowed to mount evidence (ssm:SendCommand of workstation-* documents is scoped to this tag). */
export const TAG_FORENSIC = 'sentinel:forensic';

/** The incident id as a path segment on the forensic instance: letters, digits, _ and - only. */
export function safeIncidentSegment(incidentId: string): string {
  return incidentId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64) || 'incident';
}

/** Where the bundle of one collection goes: fixed by incident, instance and snapshots, so a rerun finds it. */
export function diskBundleKey(incidentId: string, instanceId: string, snapshotIds: readonly string[]): string {
  let incident = incidentId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 128) || 'unknown';
  if (/^\.+$/.test(incident)) incident = incident.replace(/\./g, '_');
  const snaps = createHash('sha256').update([...snapshotIds].sort().join(',')).digest('hex').slice(0, 12);
  return `evidence/${incident}/disk/${instanceId}-${snaps}.tar.gz`;
}

export function tagOf(resource: { Tags?: { Key?: string; Value?: string }[] }, key: string): string | undefined {
  return resource.Tags?.find((t) => t.Key === key)?.Value;
}

/** The letter of /dev/sdX or /dev/xvdX (the same slot to EC2). */
export function deviceLetter(name: string | undefined): string | undefined {
  return /^\/dev\/(?:sd|xvd)([a-z])\d*$/.exec(name ?? '')?.[1];
}

/**
 * The forensic instance as described, checked: it exists, is not protected, is tagged
 * sentinel:forensic=true and runs. Returns it and its availability zone (where the volumes are made).
 */
export function checkForensicInstance(forensic: Instance | undefined, forensicInstanceId: string, settings: PipelineSettings): { forensic: Instance; availabilityZone: string } {
  if (!forensic) throw new NotFoundError(`no forensic instance ${forensicInstanceId}`, { code: 'ForensicInstanceNotFound' });
  refuseProtected(forensic, settings, 'runs a collection');
  if (tagOf(forensic, TAG_FORENSIC) !== 'true') {
    throw new ProtectedTargetError(`${forensicInstanceId} is not tagged ${TAG_FORENSIC}=true: evidence is only mounted on forensic instances`, { code: 'NotForensicInstance' });
  }
  if (forensic.State?.Name !== 'running') {
    throw new ConflictError(`forensic instance ${forensicInstanceId} is ${forensic.State?.Name ?? 'in an unknown state'}, not running`, { code: 'ForensicInstanceNotRunning' });
  }
  const availabilityZone = forensic.Placement?.AvailabilityZone;
  if (!availabilityZone) throw new AwsError(`forensic instance ${forensicInstanceId} has no availability zone`);
  return { forensic, availabilityZone };
}

/** Every snapshot asked for exists, has completed, and is of the compromised instance (when tagged). */
export function checkSnapshots(snapshots: readonly Snapshot[], snapshotIds: readonly string[], instanceId: string): void {
  for (const id of snapshotIds) {
    const s = snapshots.find((x) => x.SnapshotId === id);
    if (!s) throw new NotFoundError(`snapshot ${id} not found`, { code: 'SnapshotNotFound' });
    if (s.State === 'error') throw new ConflictError(`snapshot ${id} failed (state error)`, { code: 'SnapshotFailed' });
    // Not a refusal: the snapshot is still being taken; a retry later succeeds.
    if (s.State !== 'completed') throw new AwsError(`snapshot ${id} is ${s.State ?? 'not ready'} (${s.Progress ?? '?'}); retry when it has completed`, { code: 'SnapshotPending' });
    const source = tagOf(s, TAG_SOURCE_INSTANCE);
    if (source && source !== instanceId) {
      throw new ConflictError(`snapshot ${id} was taken of ${source}, not of ${instanceId}`, { code: 'SnapshotOfOtherInstance' });
    }
  }
}

export interface TemporaryVolumes {
  /** One volume to reuse per snapshot id. */
  reusable: Map<string, Volume>;
  /** Every other temporary volume of this incident: removed before the collection. */
  extra: Volume[];
}

/**
 * This incident's temporary volumes (as listed): one per snapshot is reused, preferring one
 * already on the forensic instance, then a free one in its zone; one in another zone, failed, or
 * attached elsewhere, and any second copy, is extra.
 */
export function sortTemporaryVolumes(found: readonly Volume[], forensicInstanceId: string, availabilityZone: string): TemporaryVolumes {
  const reusable = new Map<string, Volume>();
  const extra: Volume[] = [];
  const live = found.filter((v) => v.State !== 'deleting' && v.State !== 'deleted');
  const score = (v: Volume) => (v.Attachments?.some((a) => a.InstanceId === forensicInstanceId && a.State !== 'detached') ? 0 : v.State === 'available' ? 1 : 2);
  for (const v of [...live].sort((a, b) => score(a) - score(b))) {
    const snap = tagOf(v, TAG_SNAPSHOT);
    const usable = v.AvailabilityZone === availabilityZone && v.State !== 'error' && !v.Attachments?.some((a) => a.InstanceId !== forensicInstanceId && a.State !== 'detached');
    if (snap && usable && !reusable.has(snap)) reusable.set(snap, v);
    else extra.push(v);
  }
  return { reusable, extra };
}

/** The device letters the forensic instance already uses (its root and block device mappings). */
export function usedDeviceLetters(forensic: Instance): Set<string> {
  const used = new Set<string>();
  const root = deviceLetter(forensic.RootDeviceName);
  if (root) used.add(root);
  for (const m of forensic.BlockDeviceMappings ?? []) {
    const l = deviceLetter(m.DeviceName);
    if (l) used.add(l);
  }
  return used;
}

export interface PlannedVolume {
  n: number;
  snapshotId: string;
  /** Set once created (or when reused). */
  volumeId: string | undefined;
  device: string;
  reused: boolean;
  /** Already attached to the forensic instance at `device`. */
  attached: boolean;
  mountPoint: string;
  fstype?: string;
  partition?: string;
  status?: string;
}

/**
 * One volume per snapshot, in order: a reused volume already attached at one of sentinel's device
 * names keeps it; every other takes the next free name of /dev/sdf…/dev/sdp. LimitExceededError
 * (NoFreeDevice) when the names run out.
 */
export function planVolumes(
  input: { snapshotIds: readonly string[]; forensicInstanceId: string },
  found: { reusable: ReadonlyMap<string, Volume>; usedLetters: ReadonlySet<string> },
  mountBase: string,
): PlannedVolume[] {
  const attachedAtOf = (snapshotId: string): string | undefined => {
    const attachment = found.reusable.get(snapshotId)?.Attachments?.find((a) => a.InstanceId === input.forensicInstanceId && a.State !== 'detached');
    return attachment && (DEVICE_NAMES as readonly string[]).includes(attachment.Device ?? '') ? attachment.Device! : undefined;
  };
  // Names held by reused volumes stay theirs, also when the instance's own mappings do not list them yet.
  const held = new Set(input.snapshotIds.map(attachedAtOf).filter((d): d is string => d !== undefined));
  const free = DEVICE_NAMES.filter((d) => !found.usedLetters.has(deviceLetter(d)!) && !held.has(d));
  const plan: PlannedVolume[] = [];
  let next = 0;
  input.snapshotIds.forEach((snapshotId, i) => {
    const reuse = found.reusable.get(snapshotId);
    const attachedAt = attachedAtOf(snapshotId);
    let device = attachedAt;
    if (!device) {
      // A reused volume attached at a name outside our list is detached and attached again.
      while (next < free.length && plan.some((x) => x.device === free[next])) next += 1;
      device = free[next];
      next += 1;
    }
    if (!device) {
      throw new LimitExceededError(`no free device name left on ${input.forensicInstanceId} for ${input.snapshotIds.length} volume(s) (${DEVICE_NAMES[0]}…${DEVICE_NAMES[DEVICE_NAMES.length - 1]})`, { code: 'NoFreeDevice' });
    }
    plan.push({ n: i + 1, snapshotId, volumeId: reuse?.VolumeId, device, reused: Boolean(reuse), attached: Boolean(attachedAt), mountPoint: `${mountBase}/${i + 1}` });
  });
  return plan;
}

const RESULT_LINE = /^SENTINEL-RESULT sha256=([0-9a-f]{64}) size=(\d+) key=(\S+)$/m;
const VOLUME_LINE = /^SENTINEL-VOLUME n=(\d+) volume=(vol-[0-9a-f]+)(?: device=(\/dev\/[A-Za-z0-9/_-]+))?(?: fstype=([a-z0-9]+))? status=([a-z-]+)$/gm;

/** What the script said of each planned volume (status, partition, file system) goes onto the plan. */
export function readVolumeLines(stdout: string, plan: PlannedVolume[]): void {
  for (const m of stdout.matchAll(VOLUME_LINE)) {
    const v = plan.find((x) => x.n === Number(m[1]) && x.volumeId === m[2]);
    if (!v) continue;
    v.status = m[5];
    if (m[3]) v.partition = m[3];
    if (m[4]) v.fstype = m[4];
  }
}

/** The bundle the script reports having stored at `key`; undefined when it reports none (or another key). */
export function readResultLine(stdout: string, key: string): { sha256: string; size: number } | undefined {
  const line = RESULT_LINE.exec(stdout);
  if (!line || line[3] !== key) return undefined;
  return { sha256: line[1]!, size: Number(line[2]) };
}

/** The last few lines of a script's output, on one line, for an error message. */
export function lastLines(text: string, count = 5): string {
  return text.trim().split('\n').slice(-count).join(' | ').slice(0, 600);
}

export interface CleanupReport {
  volumeId: string;
  snapshotId: string | undefined;
  detach: 'detached' | 'forced' | 'not-attached' | 'failed';
  delete: 'deleted' | 'already-gone' | 'failed';
  error?: string;
}

/** Whether every temporary volume was removed. */
export function cleanupComplete(reports: readonly CleanupReport[]): boolean {
  return reports.every((r) => !r.error && r.delete !== 'failed');
}

/** One sentence on the cleanup, naming what a person has to remove by hand. */
export function cleanupSummary(reports: readonly CleanupReport[]): string {
  if (!reports.length) return 'no temporary volume to clean up';
  const failed = reports.filter((r) => r.error || r.delete === 'failed');
  if (!failed.length) return `${reports.length} temporary volume(s) detached and deleted`;
  return `CLEANUP FAILED for ${failed.map((r) => `${r.volumeId} (${r.error ?? 'not deleted'})`).join(', ')}: detach and delete ${failed.length === 1 ? 'it' : 'them'} by hand`;
}
