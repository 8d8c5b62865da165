import * as crypto from 'node:crypto';

/**
 * SHA-256 of a string, in hex: `crypto.hash` (one call, no Hash object) where Node has it
 * (20.12 and later, 21.7 and later), `createHash` otherwise. The digests are the same.
 */
const sha256Hex: (data: string) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'hex')
    : (data) => crypto.createHash('sha256').update(data).digest('hex');

/**
 * Builds a dedupe key from the identity of the activity: the same activity gives
 * the same key (whatever its time, uuid or local port); any change in the parts
 * gives another. Each part is length-prefixed, so no value can pose as another.
 * Keys are safe as Step Functions execution names (<= 80 chars).
 */
export function dedupeKey(prefix: 'falco' | 'guardduty', parts: Record<string, string | number | undefined | null>): string {
  let canonical = '';
  // Callers pass the parts in a fixed order; the key names are part of the hash.
  for (const k in parts) {
    const v = parts[k];
    if (v === undefined || v === null) {
      canonical += k + '=-;';
    } else {
      const s = typeof v === 'string' ? v : String(v);
      canonical += k + '=' + s.length + ':' + s + ';';
    }
  }
  return `${prefix}-${sha256Hex(canonical).slice(0, 40)}`;
}
