import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  paginateDescribeVolumes,
  waitUntilVolumeAvailable,
  waitUntilVolumeInUse,
  type DescribeVolumesCommandOutput,
  type EC2Client,
  type Instance,
  type Snapshot,
  type Volume,
} from '@aws-sdk/client-ec2';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CancelCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { z } from 'zod';
import { AwsError, AwsNotConfiguredError, ConfigError, describeError, NotFoundError, SentinelError } from '../../../errors.js';
import type { PipelineSettings } from '../../../config.js';
import { runSsmCommand, type PollOptions, type SsmCommandResult } from '../../../aws/runSsmCommand.js';
import { runWaiter } from '../../../aws/runWaiter.js';
import { checkSsmParameters, SSM_DOCUMENTS, ssmDocument, ssmDocumentName } from '../../../aws/ssmDocuments.js';
import type { EvidenceItem } from '../../evidence/types.js';
import { collectDiskParameters, DEVICE_NAMES } from '../../forensics/diskCollectScript.js';
import {
  checkForensicInstance,
  checkSnapshots,
  cleanupComplete,
  cleanupSummary,
  diskBundleKey,
  lastLines,
  planVolumes,
  readResultLine,
  readVolumeLines,
  safeIncidentSegment,
  sortTemporaryVolumes,
  tagOf,
  usedDeviceLetters,
  TAG_INCIDENT,
  TAG_SNAPSHOT,
  TAG_SOURCE_INSTANCE,
  TAG_TEMPORARY,
  type CleanupReport,
  type PlannedVolume,
} from '../../planning/planDiskCollection.js';
import { webRootProblem } from '../../forensics/volatileCommands.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

// The tags and names collect-disk uses (planning/planDiskCollection.ts), for callers and tests.
export { diskBundleKey, safeIncidentSegment, TAG_FORENSIC, TAG_INCIDENT, TAG_SNAPSHOT, TAG_SOURCE_INSTANCE, TAG_TEMPORARY, type CleanupReport, type PlannedVolume } from '../../planning/planDiskCollection.js';

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const SNAPSHOT_ID = /^snap-[0-9a-f]{8,17}$/;

// ---------------------------------------------------------------------------------------------
// Input.
// ---------------------------------------------------------------------------------------------

const webRootSchema = z.string().superRefine((v, ctx) => {
  const why = webRootProblem(v);
  if (why) ctx.addIssue({ code: 'custom', message: `web root ${why}` });
});

const inputSchema = z
  .strictObject({
    /** The compromised instance (recorded; its snapshots are what is mounted). */
    instanceId: z.string().regex(INSTANCE_ID, 'an instance id (i-…)'),
    /** The snapshots preserve-disk took. */
    snapshotIds: z.array(z.string().regex(SNAPSHOT_ID, 'a snapshot id (snap-…)')).min(1).max(DEVICE_NAMES.length),
    /** The forensic workstation: tagged sentinel:forensic=true, running, managed by SSM, with the AWS CLI v2. */
    forensicInstanceId: z.string().regex(INSTANCE_ID, 'an instance id (i-…)'),
    webRoots: z.array(webRootSchema).min(1).max(10).default(['/var/www']),
    volumeType: z.enum(['gp3', 'gp2', 'standard']).default('gp3'),
    /** Longest wait for a volume to become available, attached or detached, in seconds. */
    volumeWaitSeconds: z.number().int().min(10).max(3600).default(600),
    /** How long the collection script may run, in seconds. */
    commandTimeoutSeconds: z.number().int().min(60).max(172_800).default(3600),
    /** Largest single file copied into the bundle, in MiB (logs above it are listed, not copied). */
    maxFileMiB: z.number().int().min(1).max(4096).default(512),
  })
  .refine((v) => v.forensicInstanceId !== v.instanceId, { message: 'the forensic instance must not be the compromised instance', path: ['forensicInstanceId'] })
  .refine((v) => new Set(v.snapshotIds).size === v.snapshotIds.length, { message: 'snapshot ids must be distinct', path: ['snapshotIds'] });

export type CollectFromDiskInput = z.output<typeof inputSchema>;

// ---------------------------------------------------------------------------------------------
// EC2 helpers: bounded waits (the SDK's waiters), cleanup that never throws.
// ---------------------------------------------------------------------------------------------

export interface CollectFromDiskOptions {
  /** The waits' first delay between polls, ms (backing off to 10 s for volumes, 10 × this for the script). */
  pollIntervalMs?: number;
}

function errorName(err: unknown): string {
  const e = err as { name?: unknown; Code?: unknown };
  return typeof e?.name === 'string' ? e.name : typeof e?.Code === 'string' ? e.Code : '';
}

async function aws<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof SentinelError) throw err;
    throw new AwsError(`${what} failed: ${describeError(err)}`, { cause: err, details: { awsError: errorName(err) } });
  }
}

interface VolumeWait {
  /** `available` (waitUntilVolumeAvailable) or `in-use` (waitUntilVolumeInUse). */
  state: 'available' | 'in-use';
  seconds: number;
  /** What is waited for, for the timeout's message. */
  what: string;
  /** Ends the wait at once when a seen volume says so (e.g. state `error`). */
  refuse?: (volume: Volume) => Error | undefined;
}

/**
 * Waits with the SDK's volume waiter until the volume is in `wait.state`, backing off from
 * `intervalMs` to 10 s, for at most `wait.seconds`. Returns the volume as last seen, or 'gone'
 * when EC2 no longer has it (deleted: the waiters' failure state, or InvalidVolume.NotFound).
 * Throws AwsError `WaitTimedOut` at the deadline, and AwsError at once on any other EC2 error.
 */
async function waitForVolume(ec2: EC2Client, intervalMs: number, volumeId: string, wait: VolumeWait): Promise<Volume | 'gone'> {
  let gone = false;
  const find = (out: DescribeVolumesCommandOutput | undefined) => out?.Volumes?.find((v) => v.VolumeId === volumeId);
  let outcome;
  try {
    outcome = await runWaiter(
      wait.state === 'available' ? waitUntilVolumeAvailable : waitUntilVolumeInUse,
      ec2,
      { VolumeIds: [volumeId] },
      { maxWaitSeconds: wait.seconds, minDelaySeconds: intervalMs / 1000, maxDelaySeconds: 10 },
      {
        error: (err) => {
          gone = errorName(err) === 'InvalidVolume.NotFound';
          return gone ? new NotFoundError(`volume ${volumeId} does not exist`) : new AwsError(`DescribeVolumes ${volumeId} failed: ${describeError(err)}`, { cause: err });
        },
        response: (out) => {
          const volume = find(out);
          return volume && wait.refuse?.(volume);
        },
      },
    );
  } catch (err) {
    if (gone) return 'gone';
    throw err;
  }
  if (outcome.state === 'timeout') throw new AwsError(`timed out after ${wait.seconds} s waiting for ${wait.what}`, { code: 'WaitTimedOut' });
  return (outcome.state === 'success' && find(outcome.last)) || 'gone';
}

async function describeVolume(ec2: EC2Client, volumeId: string): Promise<Volume | undefined> {
  try {
    const out = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
    return out.Volumes?.find((v) => v.VolumeId === volumeId);
  } catch (err) {
    if (errorName(err) === 'InvalidVolume.NotFound') return undefined;
    throw new AwsError(`DescribeVolumes ${volumeId} failed: ${describeError(err)}`, { cause: err });
  }
}

/**
 * Detaches (from the forensic instance only) and deletes one temporary volume. Every step is
 * tried, whatever happened before; nothing is thrown, failures are reported.
 */
async function removeVolume(ec2: EC2Client, intervalMs: number, volumeId: string, snapshotId: string | undefined, forensicId: string, waitSeconds: number): Promise<CleanupReport> {
  const report: CleanupReport = { volumeId, snapshotId, detach: 'not-attached', delete: 'failed' };
  const errors: string[] = [];
  let volume: Volume | undefined;
  try {
    volume = await describeVolume(ec2, volumeId);
  } catch (err) {
    errors.push(describeError(err));
  }
  if (!volume && errors.length === 0) {
    report.delete = 'already-gone';
    return report;
  }
  const attachment = volume?.Attachments?.find((a) => a.State !== 'detached');
  if (attachment) {
    if (attachment.InstanceId !== forensicId) {
      report.detach = 'failed';
      errors.push(`attached to ${attachment.InstanceId}, not the forensic instance: left alone`);
    } else {
      try {
        await aws(`DetachVolume ${volumeId}`, () => ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: forensicId })));
        // Detached: available again (or gone).
        try {
          await waitForVolume(ec2, intervalMs, volumeId, { state: 'available', seconds: waitSeconds, what: `${volumeId} to detach` });
          report.detach = 'detached';
        } catch (err) {
          if (!(err instanceof AwsError) || err.code !== 'WaitTimedOut') throw err;
          // Still busy (a mount the script could not release): the volume is a read-only copy, force it.
          await aws(`DetachVolume ${volumeId} (forced)`, () => ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: forensicId, Force: true })));
          await waitForVolume(ec2, intervalMs, volumeId, { state: 'available', seconds: Math.min(waitSeconds, 120), what: `${volumeId} to detach (forced)` });
          report.detach = 'forced';
        }
      } catch (err) {
        report.detach = 'failed';
        errors.push(describeError(err));
      }
    }
  }
  try {
    let gone = false;
    if (volume?.State === 'creating') {
      // Deletable once created (available), or once creating failed (error).
      const notCreating = new Error('not creating');
      try {
        gone =
          (await waitForVolume(ec2, intervalMs, volumeId, {
            state: 'available',
            seconds: waitSeconds,
            what: `${volumeId} to finish creating before it is deleted`,
            refuse: (v) => (v.State === 'error' ? notCreating : undefined),
          })) === 'gone';
      } catch (err) {
        if (err !== notCreating) throw err;
      }
    }
    if (gone) {
      report.delete = 'already-gone';
    } else {
      await ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId }));
      report.delete = 'deleted';
    }
  } catch (err) {
    if (errorName(err) === 'InvalidVolume.NotFound') report.delete = 'already-gone';
    else errors.push(`DeleteVolume ${volumeId} failed: ${describeError(err)}`);
  }
  if (errors.length) report.error = errors.join('; ');
  return report;
}

interface Preflight {
  forensic: Instance;
  availabilityZone: string;
  snapshots: Snapshot[];
  /** Temporary volumes of this incident, by snapshot id (one reused each; any extra are removed). */
  reusable: Map<string, Volume>;
  extra: Volume[];
  usedLetters: Set<string>;
}

async function preflight(ec2: EC2Client, input: CollectFromDiskInput, incidentId: string, settings: PipelineSettings): Promise<Preflight> {
  const inst = await aws(`DescribeInstances ${input.forensicInstanceId}`, async () => {
    try {
      return (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [input.forensicInstanceId] }))).Reservations?.flatMap((r) => r.Instances ?? []) ?? [];
    } catch (err) {
      if (/^InvalidInstanceID\.(NotFound|Malformed)$/.test(errorName(err))) return [];
      throw err;
    }
  });
  const { forensic, availabilityZone } = checkForensicInstance(
    inst.find((i) => i.InstanceId === input.forensicInstanceId),
    input.forensicInstanceId,
    settings,
  );

  const snapshots = await aws('DescribeSnapshots', async () => {
    try {
      return (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: input.snapshotIds }))).Snapshots ?? [];
    } catch (err) {
      if (/^InvalidSnapshot\.(NotFound|Malformed)$/.test(errorName(err))) throw new NotFoundError(`snapshot not found: ${describeError(err)} (${input.snapshotIds.join(', ')})`, { code: 'SnapshotNotFound' });
      throw err;
    }
  });
  checkSnapshots(snapshots, input.snapshotIds, input.instanceId);

  const found = await aws('DescribeVolumes (temporary volumes of this incident)', async () => {
    const out: Volume[] = [];
    const pages = paginateDescribeVolumes(
      { client: ec2 },
      {
        Filters: [
          { Name: `tag:${TAG_INCIDENT}`, Values: [incidentId] },
          { Name: `tag:${TAG_TEMPORARY}`, Values: ['true'] },
          { Name: `tag:${TAG_SNAPSHOT}`, Values: input.snapshotIds },
        ],
      },
    );
    for await (const page of pages) out.push(...(page.Volumes ?? []));
    return out;
  });
  const { reusable, extra } = sortTemporaryVolumes(found, input.forensicInstanceId, availabilityZone);
  return { forensic, availabilityZone, snapshots, reusable, extra, usedLetters: usedDeviceLetters(forensic) };
}

async function headBundle(s3: S3Client, bucket: string, key: string): Promise<{ sha256: string | undefined; size: number | undefined; checksum: string | undefined } | undefined> {
  try {
    const out = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
    return { sha256: out.Metadata?.sha256, size: out.ContentLength, checksum: out.ChecksumSHA256 };
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (errorName(err) === 'NotFound' || errorName(err) === 'NoSuchKey' || status === 404) return undefined;
    throw new AwsError(`checking s3://${bucket}/${key} failed: ${describeError(err)}`, { cause: err });
  }
}

// ---------------------------------------------------------------------------------------------
// The action.
// ---------------------------------------------------------------------------------------------

export interface CollectFromDiskDetails {
  instanceId: string;
  forensicInstanceId: string;
  availabilityZone: string;
  volumes: PlannedVolume[];
  bundle: { bucket: string; key: string; location: string; sha256: string; size: number };
  command?: { commandId: string; status: string; exitCode: number | undefined };
  /** Ready to pass to the analyse action. */
  artifacts: { kind: 'disk:bundle'; location: string; sha256: string }[];
  evidence: EvidenceItem;
  cleanup: { complete: boolean; volumes: CleanupReport[] };
  notes: string[];
}

function requireClients(deps: ActionDeps): { ec2: EC2Client; ssm: SSMClient; s3: S3Client; bucket: string } {
  const { ec2, ssm, s3 } = deps.aws;
  if (!ec2 || !ssm || !s3) throw new AwsNotConfiguredError(['EC2', 'SSM', 'S3'], 'cannot collect from disk');
  const bucket = deps.settings.evidenceBucket;
  if (!bucket) throw new ConfigError('no evidence bucket is configured (set SENTINEL_EVIDENCE_BUCKET): cannot store the disk bundle', { code: 'NoEvidenceBucket' });
  return { ec2, ssm, s3, bucket };
}

/**
 * Collects non-volatile evidence from the compromised instance's snapshots: creates a temporary
 * volume from each snapshot in the forensic instance's zone (tagged with the incident and
 * sentinel:temporary=true), attaches them at free names from /dev/sdf…/dev/sdp, and runs
 * sentinel's SSM document `workstation-collect-disk` (fixed script, validated parameters only) on
 * the forensic instance (tagged sentinel:forensic=true, never a protected one). It mounts each
 * read-only (ext*: ro,noload; xfs: ro,norecovery,nouuid; never exec/suid/dev), lists and copies
 * logs, histories, cron, persistence locations and authorized_keys, writes passwd/shadow metadata
 * (never a hash) and web-root listings with sha256, and uploads one gzip'd tar once
 * (If-None-Match) to the evidence bucket.
 *
 * The temporary volumes are always detached and deleted afterwards, also when any step fails;
 * each cleanup step is tried on its own and reported. Reruns reuse this incident's volumes; a
 * rerun after success is skipped (and removes any volume an earlier cleanup left behind).
 */
export async function collectFromDisk(
  request: ActionRequest<CollectFromDiskInput>,
  deps: ActionDeps,
  options: CollectFromDiskOptions = {},
): Promise<ActionResult<CollectFromDiskDetails | Record<string, unknown>>> {
  const input = inputSchema.parse(request.input);
  const { ec2, ssm, s3, bucket } = requireClients(deps);
  const interval = options.pollIntervalMs ?? 1000;
  const region = await s3.config.region();
  const incident = safeIncidentSegment(request.incidentId);
  const key = diskBundleKey(request.incidentId, input.instanceId, input.snapshotIds);
  const location = `s3://${bucket}/${key}`;
  const mountBase = `/mnt/sentinel/${incident}`;
  const notes: string[] = [];

  const p = await preflight(ec2, input, request.incidentId, deps.settings);
  const existing = await headBundle(s3, bucket, key);
  if (existing) {
    const leftovers = [...p.reusable.values(), ...p.extra];
    if (request.dryRun) {
      return planned(`disk evidence is already at ${location}; would only remove ${leftovers.length} leftover temporary volume(s)`, {
        location,
        leftovers: leftovers.map((v) => v.VolumeId),
      });
    }
    const reports: CleanupReport[] = [];
    for (const v of leftovers) reports.push(await removeVolume(ec2, interval, v.VolumeId!, tagOf(v, TAG_SNAPSHOT), input.forensicInstanceId, input.volumeWaitSeconds));
    const complete = cleanupComplete(reports);
    return skipped(`disk evidence already collected at ${location}${reports.length ? `; ${cleanupSummary(reports)}` : ''}`, {
      location,
      sha256: existing.sha256,
      size: existing.size,
      artifacts: existing.sha256 ? [{ kind: 'disk:bundle', location, sha256: existing.sha256 }] : [],
      cleanup: { complete, volumes: reports },
    });
  }

  const plan = planVolumes(input, p, mountBase);
  const document = ssmDocument(SSM_DOCUMENTS.collectDisk);
  const documentName = ssmDocumentName(deps.settings.ssmDocumentPrefix, document.name);
  const parametersFor = (volumes: PlannedVolume[]) =>
    collectDiskParameters(
      {
        incident,
        sourceInstanceId: input.instanceId,
        bucket,
        key,
        region,
        volumes: volumes.map((v) => ({ n: v.n, volumeId: v.volumeId ?? 'vol-00000000', device: v.device })),
        webRoots: input.webRoots,
        maxFileKiB: input.maxFileMiB * 1024,
      },
      input.commandTimeoutSeconds,
    );
  // What the document would refuse fails here, before any volume is created.
  checkSsmParameters(document, parametersFor(plan));
  if (request.dryRun) {
    return planned(`would mount ${plan.length} volume(s) from ${input.snapshotIds.join(', ')} read-only on ${input.forensicInstanceId} and store the bundle at ${location}`, {
      instanceId: input.instanceId,
      forensicInstanceId: input.forensicInstanceId,
      availabilityZone: p.availabilityZone,
      volumes: plan.map((v) => ({ ...v, action: v.reused ? (v.attached ? 'reuse (attached)' : 'reuse and attach') : 'create and attach' })),
      removeExtra: p.extra.map((v) => v.VolumeId),
      location,
      // What would be sent: the document and its parameters (ids of volumes still to create are placeholders).
      document: documentName,
      parameters: parametersFor(plan),
      cleanup: 'detach and delete every temporary volume afterwards, also on failure',
    });
  }

  const tracked: PlannedVolume[] = [];
  let failure: unknown;
  let ran: SsmCommandResult | undefined;
  let result: { sha256: string; size: number } | undefined;
  let cleanupReports: CleanupReport[] = [];
  try {
    // Extra copies from earlier partial runs go first, so their device names are free.
    for (const v of p.extra) {
      cleanupReports.push(await removeVolume(ec2, interval, v.VolumeId!, tagOf(v, TAG_SNAPSHOT), input.forensicInstanceId, input.volumeWaitSeconds));
    }
    for (const v of plan) {
      tracked.push(v);
      if (v.volumeId) continue;
      const created = await aws(`CreateVolume from ${v.snapshotId}`, () =>
        ec2.send(
          new CreateVolumeCommand({
            SnapshotId: v.snapshotId,
            AvailabilityZone: p.availabilityZone,
            VolumeType: input.volumeType,
            TagSpecifications: [
              {
                ResourceType: 'volume',
                Tags: [
                  { Key: 'Name', Value: `sentinel-evidence-${v.snapshotId}` },
                  { Key: TAG_INCIDENT, Value: request.incidentId },
                  { Key: TAG_TEMPORARY, Value: 'true' },
                  { Key: TAG_SNAPSHOT, Value: v.snapshotId },
                  { Key: TAG_SOURCE_INSTANCE, Value: input.instanceId },
                ],
              },
            ],
          }),
        ),
      );
      if (!created.VolumeId) throw new AwsError(`CreateVolume from ${v.snapshotId} returned no volume id`);
      v.volumeId = created.VolumeId;
    }
    for (const v of plan) {
      if (v.attached) continue;
      const volumeId = v.volumeId!;
      if (v.reused) {
        // Reused and attached to the forensic instance at a name outside the list: detach first.
        const held = (await describeVolume(ec2, volumeId))?.Attachments?.find((a) => a.InstanceId === input.forensicInstanceId && a.State !== 'detached' && a.State !== 'detaching');
        if (held) await aws(`DetachVolume ${volumeId}`, () => ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: input.forensicInstanceId })));
      }
      const ready = await waitForVolume(ec2, interval, volumeId, {
        state: 'available',
        seconds: input.volumeWaitSeconds,
        what: `${volumeId} to become available`,
        refuse: (vol) => (vol.State === 'error' ? new AwsError(`volume ${volumeId} failed to create from ${v.snapshotId}`, { code: 'VolumeError' }) : undefined),
      });
      if (ready === 'gone') throw new AwsError(`volume ${volumeId} disappeared`, { code: 'VolumeGone' });
      await aws(`AttachVolume ${volumeId} at ${v.device}`, () => ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: input.forensicInstanceId, Device: v.device })));
    }
    for (const v of plan) {
      const volumeId = v.volumeId!;
      // In use: attaching or attached (the document waits up to 2 minutes for the device to appear).
      const attached = await waitForVolume(ec2, interval, volumeId, {
        state: 'in-use',
        seconds: input.volumeWaitSeconds,
        what: `${volumeId} to attach at ${v.device}`,
        refuse: (vol) => {
          const other = vol.Attachments?.find((a) => a.InstanceId !== input.forensicInstanceId && a.State !== 'detached');
          return other ? new AwsError(`volume ${volumeId} is attached to ${other.InstanceId}, not the forensic instance`, { code: 'VolumeAttachedElsewhere' }) : undefined;
        },
      });
      if (attached === 'gone') throw new AwsError(`volume ${volumeId} disappeared`, { code: 'VolumeGone' });
      v.attached = true;
    }

    const parameters = parametersFor(plan);
    deps.logger.info('running the disk collection document', { forensicInstanceId: input.forensicInstanceId, document: documentName, volumes: plan.map((v) => v.volumeId) });
    const poll: PollOptions = { initialIntervalMs: Math.max(1, Math.min(interval, 5000)), maxIntervalMs: Math.max(1, interval * 10) };
    ran = await runSsmCommand(
      ssm,
      {
        instanceId: input.forensicInstanceId,
        document,
        documentPrefix: deps.settings.ssmDocumentPrefix,
        parameters,
        comment: `sentinel collect-disk ${incident}`,
        deadlineMs: (input.commandTimeoutSeconds + 300) * 1000,
      },
      poll,
    );
    readVolumeLines(ran.stdout, plan);
    if (ran.status === 'WaitTimedOut') {
      try {
        await ssm.send(new CancelCommandCommand({ CommandId: ran.commandId, InstanceIds: [input.forensicInstanceId] }));
        notes.push(`the collection script was cancelled after ${input.commandTimeoutSeconds + 300} s`);
      } catch (err) {
        notes.push(`cancelling the collection script failed: ${describeError(err)}`);
      }
      throw new AwsError(`the collection script on ${input.forensicInstanceId} did not finish in time (command ${ran.commandId})`, { code: 'CollectionTimedOut' });
    }
    if (ran.status !== 'Success' || ran.exitCode !== 0) {
      throw new AwsError(`the collection script on ${input.forensicInstanceId} ended ${ran.status} (exit ${ran.exitCode ?? '?'}): ${lastLines(ran.stderr) || 'no error output'}`, {
        code: 'CollectionFailed',
        details: { commandId: ran.commandId, status: ran.status, exitCode: ran.exitCode },
      });
    }
    result = readResultLine(ran.stdout, key);
    if (!result) {
      throw new AwsError(`the collection script on ${input.forensicInstanceId} reported no bundle for ${key} (command ${ran.commandId})`, { code: 'CollectionNoResult' });
    }
    const stored = await headBundle(s3, bucket, key);
    if (!stored) throw new AwsError(`the collection script reported ${location}, but it is not there`, { code: 'BundleMissing' });
    const checksumHex = stored.checksum && !stored.checksum.includes('-') ? Buffer.from(stored.checksum, 'base64').toString('hex') : undefined;
    if (stored.sha256 !== result.sha256 || (checksumHex !== undefined && checksumHex !== result.sha256) || (stored.size !== undefined && stored.size !== result.size)) {
      throw new AwsError(`${location} does not match what the script reported (sha256 ${result.sha256}, ${result.size} bytes)`, { code: 'BundleMismatch' });
    }
    if (checksumHex === undefined) notes.push('S3 returned no SHA-256 checksum for the bundle; its sha256 metadata was checked');
  } catch (err) {
    failure = err;
  } finally {
    for (const v of tracked) {
      if (!v.volumeId) continue;
      cleanupReports.push(await removeVolume(ec2, interval, v.volumeId, v.snapshotId, input.forensicInstanceId, input.volumeWaitSeconds));
    }
  }
  const cleanupDone = cleanupComplete(cleanupReports);
  const cleanupText = cleanupSummary(cleanupReports);
  if (failure) {
    const cleanup = { complete: cleanupDone, volumes: cleanupReports };
    if (failure instanceof SentinelError) {
      failure.message = `${failure.message}; ${cleanupText}`;
      failure.details.cleanup = cleanup;
      throw failure;
    }
    throw new AwsError(`${describeError(failure)}; ${cleanupText}`, { cause: failure, details: { cleanup } });
  }
  const { sha256, size } = result!;
  if (!cleanupDone) notes.push(cleanupText);
  const collectedAt = deps.now().toISOString();
  const evidence: EvidenceItem = {
    kind: 'disk:bundle',
    location,
    sha256,
    size,
    collector: deps.settings.collector,
    collectedAt,
    source: {
      instanceId: input.instanceId,
      snapshots: input.snapshotIds.join(','),
      forensicInstanceId: input.forensicInstanceId,
      command: `ssm:${ran!.commandId}`,
    },
  };
  const details: CollectFromDiskDetails = {
    instanceId: input.instanceId,
    forensicInstanceId: input.forensicInstanceId,
    availabilityZone: p.availabilityZone,
    volumes: plan,
    bundle: { bucket, key, location, sha256, size },
    command: { commandId: ran!.commandId, status: ran!.status, exitCode: ran!.exitCode },
    artifacts: [{ kind: 'disk:bundle', location, sha256 }],
    evidence,
    cleanup: { complete: cleanupDone, volumes: cleanupReports },
    notes,
  };
  const collected = plan.filter((v) => v.status === 'collected').length;
  return succeeded(`collected disk evidence of ${input.instanceId} from ${collected}/${plan.length} volume(s) into ${location} (${size} bytes, sha256 ${sha256.slice(0, 12)}…); ${cleanupText}`, details);
}

export const collectFromDiskAction = defineAction({
  id: 'collect-disk',
  description:
    "Mount temporary volumes made from the compromised instance's snapshots read-only on the forensic instance, collect logs, histories, cron, persistence locations, authorized_keys, account metadata and web-root listings into one bundle in the evidence bucket, then always detach and delete the volumes.",
  permissions: {
    iam: [
      'ec2:DescribeInstances',
      'ec2:DescribeSnapshots',
      'ec2:DescribeVolumes',
      // Scoped by tag in the policy: only volumes tagged sentinel:temporary=true (created with the tag).
      'ec2:CreateVolume',
      'ec2:CreateTags',
      'ec2:AttachVolume',
      'ec2:DetachVolume',
      'ec2:DeleteVolume',
      // Only document/<prefix>-workstation-*, only on instances tagged sentinel:forensic=true.
      'ssm:SendCommand',
      'ssm:GetCommandInvocation',
      'ssm:CancelCommand',
      // HeadObject of the bundle (rerun check and verification).
      's3:GetObject',
      's3:ListBucket',
    ],
    rbac: [],
  },
  input: inputSchema,
  run: (request, deps) => collectFromDisk(request, deps),
});
