import { describe, expect, it } from 'vitest';
import { evidenceKey } from '../../../src/pipeline/evidence/evidenceKey.js';
import { sanitizeName } from '../../../src/pipeline/evidence/sanitizeName.js';

const SHA = 'a'.repeat(64);

describe('sanitizeName', () => {
  it.each([
    ['/var/www/uploads/shell.php', 'shell.php'],
    ["/tmp/'; rm -rf x #", '___rm_-rf_x__'],
    ['/tmp/$(id)\n.php', '__id__.php'],
    ['/tmp/.hidden', '_hidden'],
    ['/tmp/한국어.php', '___.php'],
    ['/', 'unnamed'],
  ])('turns %j into %j', (input, out) => {
    expect(sanitizeName(input)).toBe(out);
  });

  it('keeps names short', () => {
    expect(sanitizeName(`/tmp/${'x'.repeat(500)}`)).toHaveLength(100);
  });
});

describe('evidenceKey', () => {
  it('puts incident, hash and name in the key', () => {
    expect(evidenceKey('inc-1', SHA, '/var/www/a b.php')).toBe(`evidence/inc-1/${SHA}/a_b.php`);
  });

  it('gives different content a different key', () => {
    expect(evidenceKey('inc-1', SHA, '/x')).not.toBe(evidenceKey('inc-1', 'b'.repeat(64), '/x'));
  });

  it('refuses a malformed hash and cleans the incident id', () => {
    expect(() => evidenceKey('inc', 'xyz', '/x')).toThrow(/sha256/);
    expect(evidenceKey('../../etc', SHA, '/x')).toBe(`evidence/.._.._etc/${SHA}/x`);
  });
});
