import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/** Who asks for /metrics: the peer's address and the Authorization header, as received. */
export interface MetricsRequest {
  remoteAddress: string | undefined;
  authorization: string | undefined;
}

/** Let through, or refuse with a status, a JSON body and headers to send. */
export type MetricsAccess =
  | { allowed: true }
  | { allowed: false; status: 401 | 403; reason: string; headers: Record<string, string> };

/**
 * True for a loopback peer: 127.0.0.0/8, ::1, and 127.x written as an IPv4-mapped IPv6 address
 * (how a dual-stack socket reports an IPv4 peer).
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const lower = address.toLowerCase();
  const v4 = lower.startsWith('::ffff:') ? lower.slice('::ffff:'.length) : lower;
  if (isIP(v4) === 4) return v4.split('.')[0] === '127';
  if (isIP(lower) !== 6) return false;
  // Any spelling of ::1 (0:0:0:0:0:0:0:1, ::0001…).
  const groups = expandIPv6(lower);
  return groups !== undefined && groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1;
}

function expandIPv6(address: string): number[] | undefined {
  if (address.includes('.')) return undefined;
  const [head, tail, ...rest] = address.split('::');
  if (rest.length) return undefined;
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  const groups = tail === undefined ? left : [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

/** Compares two strings in time that does not depend on where they differ (or on their lengths). */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * Who may read /metrics. With a token (SENTINEL_METRICS_TOKEN), only a request carrying
 * `Authorization: Bearer <token>`, from anywhere (loopback included); without one, only a
 * loopback peer. Pure: the server passes in what it received.
 */
export function authorizeMetrics(request: MetricsRequest, token: string | undefined): MetricsAccess {
  if (token !== undefined && token !== '') {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(request.authorization ?? '');
    if (!m) {
      return { allowed: false, status: 401, reason: '/metrics needs Authorization: Bearer <SENTINEL_METRICS_TOKEN>', headers: { 'www-authenticate': 'Bearer realm="sentinel-metrics"' } };
    }
    if (!sameSecret(m[1]!, token)) {
      return {
        allowed: false,
        status: 401,
        reason: 'the bearer token does not match SENTINEL_METRICS_TOKEN',
        headers: { 'www-authenticate': 'Bearer realm="sentinel-metrics", error="invalid_token"' },
      };
    }
    return { allowed: true };
  }
  if (isLoopbackAddress(request.remoteAddress)) return { allowed: true };
  return {
    allowed: false,
    status: 403,
    reason: '/metrics answers only loopback clients; set SENTINEL_METRICS_TOKEN to scrape it from elsewhere with a bearer token',
    headers: {},
  };
}
