import { describe, expect, it } from 'vitest';
import { ProtectedTargetError, ValidationError } from '../../../src/errors.js';
import { checkPodPath, checkResolvedPodPath } from '../../../src/pipeline/planning/checkPodPath.js';

const roots = ['/var/www', '/tmp'];

describe('checkPodPath', () => {
  it('accepts a file under a root and cleans double slashes', () => {
    expect(checkPodPath('/var/www//html/uploads/shell.php', roots)).toBe('/var/www/html/uploads/shell.php');
  });

  it('keeps shell metacharacters and newlines as data', () => {
    const odd = "/tmp/'; rm -rf / #$(id)\n.php";
    expect(checkPodPath(odd, roots)).toBe(odd);
  });

  it.each(['/var/www/../../etc/passwd', '/var/www/html/./x', '/tmp/..'])('refuses traversal in %s', (p) => {
    expect(() => checkPodPath(p, roots)).toThrow(ProtectedTargetError);
  });

  it.each(['/etc/passwd', '/var/wwwx/a', '/var/www', '/'])('refuses %s outside the roots', (p) => {
    expect(() => checkPodPath(p, roots)).toThrow(/outside the allowed roots/);
  });

  it.each(['', 'relative/x', '/tmp/a\0b'])('refuses malformed %j', (p) => {
    expect(() => checkPodPath(p, roots)).toThrow(ValidationError);
  });
});

describe('checkResolvedPodPath (where realpath -e says the path really is)', () => {
  it('returns the resolved path when it is under the roots', () => {
    expect(checkResolvedPodPath('/var/www/up/x.php', '/tmp/real/x.php', roots)).toBe('/tmp/real/x.php');
  });

  it('refuses a symlinked parent that leads out of the roots, naming both paths', () => {
    expect(() => checkResolvedPodPath('/tmp/a/passwd', '/etc/passwd', roots)).toThrow(
      'refusing "/tmp/a/passwd": it resolves through a symlink to "/etc/passwd", outside the allowed roots (/var/www, /tmp)',
    );
    try {
      checkResolvedPodPath('/tmp/a/passwd', '/etc/passwd', roots);
    } catch (err) {
      expect(err).toBeInstanceOf(ProtectedTargetError);
      expect((err as ProtectedTargetError).code).toBe('SymlinkEscape');
    }
  });

  it.each(['/tmp', '/var/wwwx/y', '/'])('refuses a resolution to %s (a root itself or a look-alike)', (resolved) => {
    expect(() => checkResolvedPodPath('/tmp/x', resolved, roots)).toThrow(ProtectedTargetError);
  });
});
