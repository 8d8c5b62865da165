import { ProtectedTargetError, ValidationError } from '../../errors.js';

/** Whether a clean absolute path is strictly below one of the roots. */
export function isUnderRoots(path: string, roots: readonly string[]): boolean {
  return roots.some((root) => {
    const r = root.replace(/\/+$/, '');
    return r !== '' && path.startsWith(`${r}/`) && path.length > r.length + 1;
  });
}

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
  if (!isUnderRoots(clean, roots)) {
    throw new ProtectedTargetError(`refusing ${JSON.stringify(clean)}: outside the allowed roots (${roots.join(', ')})`, { code: 'PathOutsideRoots' });
  }
  return clean;
}

/**
 * Checks where a path really leads inside the pod (what `realpath -e` answered for `requested`):
 * the resolved path must itself be under the roots, so a symlink anywhere on the way (a
 * symlinked parent such as `/tmp/a` → `/etc`) cannot aim an action outside them. Returns the
 * resolved path, which is what the action then works on.
 */
export function checkResolvedPodPath(requested: string, resolved: string, roots: readonly string[]): string {
  if (!resolved.startsWith('/') || resolved.includes('\0')) throw new ValidationError(`not an absolute path: ${JSON.stringify(resolved)}`, { code: 'InvalidPath' });
  const segments = resolved.split('/').filter((s) => s !== '');
  const clean = `/${segments.join('/')}`;
  if (segments.some((s) => s === '..' || s === '.') || !isUnderRoots(clean, roots)) {
    throw new ProtectedTargetError(
      `refusing ${JSON.stringify(requested)}: it resolves through a symlink to ${JSON.stringify(clean)}, outside the allowed roots (${roots.join(', ')})`,
      { code: 'SymlinkEscape', details: { requested, resolved: clean } },
    );
  }
  return clean;
}
