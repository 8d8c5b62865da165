import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { describeError } from '../../errors.js';
import type { ActionResult } from '../../pipeline/actions/types.js';
import type { HandlerContext } from '../context.js';

/** How long a download link works. */
export const LINK_SECONDS = 15 * 60;

export interface EvidenceFacts {
  /** `sha256 \`…\`, N bytes`, or '' when nothing was stored. */
  facts: string;
  /** A short-lived presigned GET of the stored copy (only ever shown ephemerally). */
  link?: string;
}

/** The SHA-256 and size of what extract-file stored, and a short-lived download link for it. */
export async function presignEvidence(result: ActionResult<object>, ctx: HandlerContext): Promise<EvidenceFacts> {
  const d = result.details as { bucket?: string; key?: string; sha256?: string; size?: number; dryRun?: boolean };
  if (result.status !== 'succeeded' || d.dryRun || !d.sha256) return { facts: '' };
  const facts = `sha256 \`${d.sha256}\`, ${d.size} bytes`;
  if (!d.bucket || !d.key || !ctx.actionDeps.aws.s3) return { facts };
  try {
    const link = await getSignedUrl(ctx.actionDeps.aws.s3, new GetObjectCommand({ Bucket: d.bucket, Key: d.key }), { expiresIn: LINK_SECONDS });
    return { facts, link };
  } catch (err) {
    ctx.logger.warn('cannot presign the evidence link', { reason: describeError(err) });
    return { facts };
  }
}
