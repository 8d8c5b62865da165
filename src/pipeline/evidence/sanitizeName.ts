/**
 * A file name safe for object keys and file systems: the last path segment,
 * with anything outside [A-Za-z0-9._-] replaced by `_`, no leading dot, at
 * most 100 characters. Never empty.
 */
export function sanitizeName(path: string): string {
  const base = path.split('/').filter(Boolean).pop() ?? '';
  const cleaned = base
    .normalize('NFC')
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^\.+/, (dots) => '_'.repeat(dots.length))
    .slice(0, 100);
  return cleaned || 'unnamed';
}
