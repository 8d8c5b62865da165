import { createHash } from 'node:crypto';

/**
 * Builds a dedupe key from the identity of the activity: the same activity gives
 * the same key (whatever its time, uuid or local port); any change in the parts
 * gives another. Keys are safe as Step Functions execution names (<= 80 chars).
 */
export function dedupeKey(prefix: 'falco' | 'guardduty', parts: Record<string, unknown>): string {
  const canonical = JSON.stringify(
    Object.keys(parts)
      .sort()
      .map((k) => [k, parts[k] ?? null]),
  );
  return `${prefix}-${createHash('sha256').update(canonical).digest('hex').slice(0, 40)}`;
}
