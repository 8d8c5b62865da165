import { createHash } from 'node:crypto';

/**
 * The approval id for a task token: a hash, so a redelivered approval request
 * finds its approval instead of posting a second one, and the token itself
 * never leaves the store (custom_id carries only this id).
 */
export function approvalIdFor(taskToken: string): string {
  return createHash('sha256').update(`sentinel-approval\n${taskToken}`).digest('base64url').slice(0, 22);
}
