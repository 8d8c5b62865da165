import { createHash } from 'node:crypto';
import { CreateTagsCommand, DescribeInstancesCommand, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import type { S3Client } from '@aws-sdk/client-s3';
import { DescribeInstanceInformationCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { z } from 'zod';
import type { PollOptions } from '../../aws/runSsmCommand.js';
import type { PipelineSettings } from '../../config.js';
import { AwsError, AwsNotConfiguredError, ConfigError, ConflictError, describeError, NotFoundError, ProtectedTargetError, SentinelError } from '../../errors.js';
import type { ActionDeps } from '../actions/types.js';

/**
 * Helpers shared by the EC2 actions (collect-volatile, capture-memory, collect-disk, preserve-disk,
 * isolate-node, release-node): client and setting requirements, AWS call wrapping, instance
 * lookups, the protected-instance refusal, the incident tag, SSM reachability.
 */

/** The incident an instance belongs to. sentinel's role may send its `incident-*` SSM documents only to instances carrying it. */
export const INCIDENT_TAG = 'sentinel:incident';

export const INSTANCE_ID_PATTERN = /^i-[0-9a-f]{8,17}$/;
export const instanceIdSchema = z.string().regex(INSTANCE_ID_PATTERN, 'an EC2 instance id (i-…)');

/** GetCommandInvocation returns at most the first 24 000 characters of stdout. */
export const SSM_INLINE_OUTPUT_LIMIT = 24_000;

/** Tuning: the SSM waits' backoff (waitUntilCommandExecuted; by default from 0.5 s to 5 s between polls). */
export interface ForensicsRunOptions {
  poll?: PollOptions;
}

export function awsErrorName(err: unknown): string {
  const e = err as { name?: unknown; Code?: unknown };
  return typeof e?.name === 'string' ? e.name : typeof e?.Code === 'string' ? e.Code : '';
}

export function httpStatusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

export function isNotFound(err: unknown): boolean {
  const name = awsErrorName(err);
  return name === 'NotFound' || name === 'NoSuchKey' || httpStatusOf(err) === 404;
}

/** The incident id as it appears in object keys and names: [A-Za-z0-9._-], at most 128 characters. */
export function safeIncident(incidentId: string): string {
  return incidentId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 128) || 'unknown';
}

/** Runs an AWS call; anything it throws becomes an AwsError naming the call. */
export async function awsCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof SentinelError) throw err;
    throw new AwsError(`${what} failed: ${describeError(err)}`, { cause: err, details: { awsError: awsErrorName(err) } });
  }
}

export function requireEc2(deps: ActionDeps, what: string): EC2Client {
  if (!deps.aws.ec2) throw new AwsNotConfiguredError('EC2', `cannot ${what}`);
  return deps.aws.ec2;
}

export function requireSsm(deps: ActionDeps, what: string): SSMClient {
  if (!deps.aws.ssm) throw new AwsNotConfiguredError('SSM', `cannot ${what}`);
  return deps.aws.ssm;
}

export function requireS3(deps: ActionDeps, what: string): S3Client {
  if (!deps.aws.s3) throw new AwsNotConfiguredError('S3', `cannot ${what}`);
  return deps.aws.s3;
}

export function requireEvidenceBucket(deps: ActionDeps, what: string): string {
  const bucket = deps.settings.evidenceBucket;
  if (!bucket) throw new ConfigError(`no evidence bucket is configured (set SENTINEL_EVIDENCE_BUCKET): cannot ${what}`, { code: 'NoEvidenceBucket' });
  return bucket;
}

/** The instance with this id (DescribeInstances); NotFoundError when EC2 has none. */
export async function findInstance(ec2: EC2Client, instanceId: string): Promise<Instance> {
  let found: Instance | undefined;
  try {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    found = out.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
  } catch (err) {
    if (!/^InvalidInstanceID\.(NotFound|Malformed)$/.test(awsErrorName(err))) {
      throw new AwsError(`DescribeInstances ${instanceId} failed: ${describeError(err)}`, { cause: err });
    }
  }
  if (!found) throw new NotFoundError(`no EC2 instance ${instanceId}`, { code: 'InstanceNotFound', details: { instanceId } });
  return found;
}

/** A running instance (volatile evidence only exists while it runs); ConflictError otherwise. */
export function requireRunning(instance: Instance, what: string): void {
  const state = instance.State?.Name ?? 'unknown';
  if (state !== 'running') {
    throw new ConflictError(`instance ${instance.InstanceId} is ${state}, not running: cannot ${what} (its memory and processes are gone or not reachable)`, {
      code: 'InstanceNotRunning',
      details: { instanceId: instance.InstanceId, state },
    });
  }
}

/**
 * Refuses an instance carrying the protected tag (`settings.protectedTag`, any value): sentinel
 * never runs anything on it. ProtectedTargetError, so the step fails as final `ProtectedTarget`.
 */
export function refuseProtected(instance: Instance, settings: PipelineSettings, what: string): void {
  const value = instance.Tags?.find((t) => t.Key === settings.protectedTag)?.Value;
  if (value !== undefined) {
    throw new ProtectedTargetError(`instance ${instance.InstanceId} is protected (tag ${settings.protectedTag}=${value}); sentinel never ${what} on it`, {
      details: { instanceId: instance.InstanceId, tag: settings.protectedTag },
    });
  }
}

export type IncidentTagging = 'tagged' | 'already-tagged' | 'tagged-for-another-incident';

/**
 * Tags the instance `sentinel:incident=<incident id>` (the first 256 characters) before any SSM
 * document is sent to it: the IAM policy lets sentinel send its `incident-*` documents only to
 * instances carrying this tag. Idempotent: an instance already tagged for this incident is left
 * as it is, and one tagged for another incident keeps that tag (the tag only has to be present;
 * the note says so). A CreateTags failure is an AwsError: nothing is sent untagged.
 */
export async function tagForIncident(ec2: EC2Client, instance: Instance, incidentId: string, notes: string[]): Promise<IncidentTagging> {
  const value = incidentId.slice(0, 256);
  const current = instance.Tags?.find((t) => t.Key === INCIDENT_TAG)?.Value;
  if (current === value) return 'already-tagged';
  if (current !== undefined) {
    notes.push(`${instance.InstanceId} was already tagged ${INCIDENT_TAG} for another incident; that tag was left as it is`);
    return 'tagged-for-another-incident';
  }
  await awsCall(`CreateTags ${INCIDENT_TAG} on ${instance.InstanceId}`, () =>
    ec2.send(new CreateTagsCommand({ Resources: [instance.InstanceId!], Tags: [{ Key: INCIDENT_TAG, Value: value }] })),
  );
  return 'tagged';
}

export type SsmRegistration = 'online' | 'not-checked';

/**
 * Whether SSM can reach the instance (DescribeInstanceInformation). Not registered, or an agent
 * that is not Online → ConflictError (commands would only time out). When the check itself
 * fails (no permission; moto does not implement it) the result is `not-checked` with a note:
 * the commands then report their own delivery failures.
 */
export async function checkSsmRegistration(ssm: SSMClient, instanceId: string, notes: string[]): Promise<SsmRegistration> {
  let list;
  try {
    const out = await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }));
    list = out.InstanceInformationList ?? [];
  } catch (err) {
    notes.push(`SSM registration not checked (DescribeInstanceInformation failed: ${describeError(err).slice(0, 200)})`);
    return 'not-checked';
  }
  const info = list.find((i) => i.InstanceId === instanceId);
  if (!info) {
    throw new ConflictError(`instance ${instanceId} is not managed by SSM (no SSM agent registration): cannot run commands on it`, {
      code: 'NotManagedBySsm',
      details: { instanceId },
    });
  }
  if (info.PingStatus !== 'Online') {
    throw new ConflictError(`the SSM agent on ${instanceId} is ${info.PingStatus ?? 'unknown'}, not Online: cannot run commands on it`, {
      code: 'SsmAgentOffline',
      details: { instanceId, pingStatus: info.PingStatus },
    });
  }
  return 'online';
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** At most `max` characters of `text`, marked when cut. */
export function excerpt(text: string, max = 500): string {
  const t = text.trim();
  return t.length <= max ? t : `${t.slice(0, max)}…`;
}

