import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { AwsError } from '../../errors.js';
import type { IncidentRecord } from './incidentRecord.js';

const indexSchema = z.object({ incidentId: z.string(), key: z.string().startsWith('incidents/') });

/** Where the index entry of an incident lives: `incident-index/<id>.json` → the record's key. */
export function incidentIndexKey(incidentId: string): string {
  return `incident-index/${incidentId.replace(/[^A-Za-z0-9_-]/g, '_')}.json`;
}

export async function writeIncidentIndex(s3: S3Client, bucket: string, incidentId: string, key: string): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: incidentIndexKey(incidentId), Body: JSON.stringify({ incidentId, key }), ContentType: 'application/json' }));
}

async function readJson(s3: S3Client, bucket: string, key: string): Promise<unknown | undefined> {
  try {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return JSON.parse(await r.Body!.transformToString()) as unknown;
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined;
    throw new AwsError(`cannot read s3://${bucket}/${key}: ${(err as Error).message}`, { cause: err });
  }
}

/** The recorded incident (with its evidence manifest) by incident id, through the index; undefined when none. */
export async function readIncidentRecord(s3: S3Client, bucket: string, incidentId: string): Promise<{ record: IncidentRecord; location: string } | undefined> {
  const index = indexSchema.safeParse(await readJson(s3, bucket, incidentIndexKey(incidentId)));
  if (!index.success) return undefined;
  const record = await readJson(s3, bucket, index.data.key);
  if (!record || typeof record !== 'object') return undefined;
  return { record: record as IncidentRecord, location: `s3://${bucket}/${index.data.key}` };
}
