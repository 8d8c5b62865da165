/**
 * The Step Functions execution name for an incident: the dedupe key and the
 * window it opened in. A redelivered event maps to the same name, so it
 * cannot start the playbook twice. At most 80 characters of [A-Za-z0-9_-].
 */
export function executionNameFor(dedupeKey: string, windowStart: Date): string {
  const key = dedupeKey.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  return `${key}-${Math.floor(windowStart.getTime() / 1000).toString(36)}`;
}
