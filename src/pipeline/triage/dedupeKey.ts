import { hash } from 'node:crypto';

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
    canonical += v === undefined || v === null ? `${k}=-;` : `${k}=${String(v).length}:${String(v)};`;
  }
  return `${prefix}-${hash('sha256', canonical, 'hex').slice(0, 40)}`;
}
