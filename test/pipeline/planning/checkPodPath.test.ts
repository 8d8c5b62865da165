import { describe, expect, it } from 'vitest';
import { ProtectedTargetError, ValidationError } from '../../../src/errors.js';
import { checkPodPath } from '../../../src/pipeline/planning/checkPodPath.js';

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
