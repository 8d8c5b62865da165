import { createHash } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { AwsError, AwsNotConfiguredError, ConfigError } from '../../../errors.js';
import { buildIncidentRecord, incidentKey, type IncidentInput } from '../../incident/incidentRecord.js';
import { incidentOrStateSchema } from '../../incident/playbookState.js';
import { writeIncidentIndex } from '../../incident/readIncidentRecord.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

export interface RecordIncidentDetails {
  bucket: string;
  key: string;
  location: string;
  sha256: string;
  evidenceCount: number;
}

function contentHash(record: object): string {
  return createHash('sha256').update(JSON.stringify(record)).digest('hex');
}

/**
 * Writes the incident JSON (with its evidence manifest and decision trail) to
 * `incidents/{start time}/{execution name}.json`. The record's identity is the
 * incident; a retry with the same content changes nothing, a later call with
 * more steps replaces it with the fuller record.
 */
export async function recordIncident(request: ActionRequest<IncidentInput>, deps: ActionDeps): Promise<ActionResult<RecordIncidentDetails | (RecordIncidentDetails & { dryRun: true })>> {
  const input = request.input;
  const bucket = deps.settings.evidenceBucket;
  if (!bucket) throw new ConfigError('no evidence bucket is configured (SENTINEL_EVIDENCE_BUCKET)', { code: 'NoEvidenceBucket' });
  const s3 = deps.aws.s3;
  if (!s3) throw new AwsNotConfiguredError('S3', 'cannot write the incident record');
  const key = incidentKey(input.startTime, input.executionName);
  const location = `s3://${bucket}/${key}`;
  // The hash covers the incident, not when it was written, so a retry matches.
  const stable = buildIncidentRecord(input, request.actor, new Date(0));
  const sha256 = contentHash({ ...stable, recordedAt: undefined });
  const details = { bucket, key, location, sha256, evidenceCount: stable.manifest.length };
  if (request.dryRun) return planned(`would write the incident record to ${location}`, details);

  const existing = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })).then(
    (r) => r.Metadata?.['content-sha256'],
    (err: { name?: string; $metadata?: { httpStatusCode?: number } }) => {
      if (err?.name === 'NoSuchKey' || err?.$metadata?.httpStatusCode === 404) return undefined;
      throw new AwsError(`cannot read ${location}: ${(err as Error).message}`, { cause: err });
    },
  );
  if (existing === sha256) {
    // A retry: make sure the index a crash may have missed is there too.
    await writeIncidentIndex(s3, bucket, input.incidentId, key).catch((err: unknown) => {
      throw new AwsError(`cannot write the incident index for ${location}: ${(err as Error).message}`, { cause: err });
    });
    return skipped(`incident already recorded at ${location}`, details);
  }

  const record = buildIncidentRecord(input, request.actor, deps.now());
  const body = JSON.stringify(record, null, 2);
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentType: 'application/json',
        Metadata: { 'content-sha256': sha256, 'incident-id': input.incidentId.replace(/[^\x20-\x7e]/g, '_') },
      }),
    );
    await writeIncidentIndex(s3, bucket, input.incidentId, key);
  } catch (err) {
    throw new AwsError(`cannot write the incident record to ${location}: ${(err as Error).message}`, { cause: err });
  }
  return succeeded(`incident recorded at ${location} with ${record.manifest.length} evidence item(s)`, details);
}

export const recordIncidentAction = defineAction({
  id: 'record-incident',
  description: 'Write the incident JSON with its evidence manifest and decision trail to S3 (incidents/{start}/{execution}.json).',
  permissions: { iam: ['s3:PutObject', 's3:GetObject'], rbac: [] },
  input: incidentOrStateSchema,
  run: recordIncident,
});
