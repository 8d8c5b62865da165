import { ProtectedTargetError, ValidationError } from '../../errors.js';

/**
 * Checks a path inside a pod before any action touches it: absolute, no NUL,
 * no `.` or `..` segments (any traversal is refused, even one that would land
 * inside a root), and strictly under one of the allowed roots. Returns the
 * path with duplicate slashes removed.
 */
export function checkPodPath(path: string, roots: readonly string[]): string {
  if (typeof path !== 'string' || path.length === 0) throw new ValidationError('the path is empty', { code: 'InvalidPath' });
  if (path.includes('\0')) throw new ValidationError('the path contains a NUL byte', { code: 'InvalidPath' });
  if (!path.startsWith('/')) throw new ValidationError(`the path must be absolute: ${JSON.stringify(path)}`, { code: 'InvalidPath' });
  if (path.length > 4096) throw new ValidationError('the path is longer than 4096 characters', { code: 'InvalidPath' });
  const segments = path.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s === '.')) {
    throw new ProtectedTargetError(`refusing a path with traversal: ${JSON.stringify(path)}`, { code: 'PathTraversal' });
  }
  const clean = `/${segments.join('/')}`;
  const inside = roots.some((root) => {
    const r = root.replace(/\/+$/, '');
    return r !== '' && clean.startsWith(`${r}/`) && clean.length > r.length + 1;
  });
  if (!inside) {
    throw new ProtectedTargetError(`refusing ${JSON.stringify(clean)}: outside the allowed roots (${roots.join(', ')})`, { code: 'PathOutsideRoots' });
  }
  return clean;
}
