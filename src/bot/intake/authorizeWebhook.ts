import { createHash, timingSafeEqual } from 'node:crypto';
import { isLoopbackAddress } from '../ops/authorizeMetrics.js';

/** The header Falcosidekick sends the shared secret in (`webhook.customheaders`). */
export const WEBHOOK_TOKEN_HEADER = 'x-sentinel-token';

/** Who posts: the peer's address and the token header, as received (an array when the header came more than once). */
export interface WebhookRequest {
  remoteAddress: string | undefined;
  token: string | string[] | undefined;
}

export type WebhookAccess = { allowed: true } | { allowed: false; status: 401 | 403; reason: string };

/**
 * Compares a presented secret with the expected one in time that depends on neither where they
 * differ nor their lengths: both are hashed to 32 bytes and compared with timingSafeEqual.
 */
export function sameWebhookToken(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * Who may post events. With SENTINEL_WEBHOOK_TOKEN, only a request carrying it in
 * X-Sentinel-Token (once), from anywhere; without it, only a loopback peer (a local
 * `sentinel send`), so an unconfigured webhook is never open to the network. Pure: the server
 * passes in what it received. Reasons never hold what was presented.
 */
export function authorizeWebhook(request: WebhookRequest, token: string | undefined): WebhookAccess {
  if (token !== undefined && token !== '') {
    if (request.token === undefined || request.token === '') return { allowed: false, status: 401, reason: 'missing X-Sentinel-Token header' };
    if (Array.isArray(request.token)) return { allowed: false, status: 401, reason: 'X-Sentinel-Token sent more than once' };
    if (!sameWebhookToken(request.token, token)) return { allowed: false, status: 401, reason: 'X-Sentinel-Token does not match SENTINEL_WEBHOOK_TOKEN' };
    return { allowed: true };
  }
  if (isLoopbackAddress(request.remoteAddress)) return { allowed: true };
  return { allowed: false, status: 403, reason: 'SENTINEL_WEBHOOK_TOKEN is not set: the webhook accepts loopback clients only' };
}
