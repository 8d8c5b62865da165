import { sanitizeName } from './sanitizeName.js';

const SAFE_ID = /[^A-Za-z0-9._-]/g;

/**
 * The S3 key of a collected file: `evidence/<incident>/<sha256>/<name>`. The
 * hash makes keys of different contents differ; conditional writes make a key,
 * once written, never change.
 */
export function evidenceKey(incidentId: string, sha256: string, originalName: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error('evidenceKey needs a lowercase hex sha256');
  const incident = incidentId.replace(SAFE_ID, '_').slice(0, 128) || 'unknown';
  return `evidence/${incident}/${sha256}/${sanitizeName(originalName)}`;
}
