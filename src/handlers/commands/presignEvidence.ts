import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { isLocalObjectStore } from '../../aws/localObjectStore.js';
import { escapeInlineCode } from '../render/escapeText.js';
import { describeError } from '../../errors.js';
import type { ActionResult } from '../../pipeline/actions/types.js';
import type { IncidentRecord } from '../../pipeline/incident/incidentRecord.js';
import type { HandlerContext } from '../context.js';

/** How long a download link works. */
export const LINK_SECONDS = 15 * 60;

export interface EvidenceFacts {
  /** `sha256 \`…\`, N bytes` (and, in embedded mode, where on the bot's host), or '' when nothing was stored. */
  facts: string;
  /** A short-lived presigned GET of the stored copy (only ever shown ephemerally). */
  link?: string;
  /** Embedded mode: the stored copy's path on the bot's host (the local object store); never a URL. */
  path?: string;
}

/**
 * The SHA-256 and size of what extract-file stored, and a short-lived download link for it. In
 * embedded mode (the local object store) there is nothing to presign: the facts say where the
 * file is on the bot's host instead, and nothing is served over the network.
 */
export async function presignEvidence(result: ActionResult<object>, ctx: HandlerContext): Promise<EvidenceFacts> {
  const d = result.details as { bucket?: string; key?: string; sha256?: string; size?: number; dryRun?: boolean };
  if (result.status !== 'succeeded' || d.dryRun || !d.sha256) return { facts: '' };
  const facts = `sha256 \`${d.sha256}\`, ${d.size} bytes`;
  if (!d.bucket || !d.key || !ctx.actionDeps.aws.s3) return { facts };
  const s3 = ctx.actionDeps.aws.s3;
  if (isLocalObjectStore(s3)) {
    const path = s3.pathOfLocation(`s3://${d.bucket}/${d.key}`);
    return path ? { facts: `${facts}, stored on the bot's host at ${escapeInlineCode(path, 600)}`, path } : { facts };
  }
  try {
    const link = await getSignedUrl(s3, new GetObjectCommand({ Bucket: d.bucket, Key: d.key }), { expiresIn: LINK_SECONDS });
    return { facts, link };
  } catch (err) {
    ctx.logger.warn('cannot presign the evidence link', { reason: describeError(err) });
    return { facts };
  }
}

/**
 * An incident record as /evidence show presents it: with the local object store (embedded
 * mode), the record's and each evidence item's `s3://` location become their paths on the bot's
 * host (size and sha256 stay as recorded); with S3, the record as it is.
 */
export function evidenceView(found: { record: IncidentRecord; location: string }, s3: unknown): { record: IncidentRecord; location: string } {
  if (!isLocalObjectStore(s3)) return found;
  const where = (location: string) => s3.pathOfLocation(location) ?? location;
  return { record: { ...found.record, manifest: found.record.manifest.map((e) => ({ ...e, location: where(e.location) })) }, location: where(found.location) };
}
