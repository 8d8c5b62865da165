import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalBytes, canonicalString, dedupeKey } from '../../../src/pipeline/triage/dedupeKey.js';
import { loadPlaybookConfig } from '../../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../../src/pipeline/triage/triageEvent.js';
import { fixtureNames, loadFixture } from '../../helpers/events.js';

/** The key by its definition: SHA-256 (createHash) of the canonical string, its first 40 hex digits. */
const reference = (prefix: 'falco' | 'guardduty', parts: Record<string, string | number | undefined | null>) =>
  `${prefix}-${createHash('sha256').update(canonicalString(parts)).digest('hex').slice(0, 40)}`;

/** Any UTF-16 text, lone surrogates included. */
const anyText = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const partValue = fc.oneof(fc.string({ maxLength: 40 }), anyText, fc.integer(), fc.double(), fc.constant(undefined), fc.constant(null), fc.constant(''));
const partsArb = fc.dictionary(fc.oneof(fc.constantFrom('rule', 'node', 'ns', 'pod', 'ip', 'port', 'cmdline'), fc.string({ minLength: 1, maxLength: 8 })), partValue, { maxKeys: 14 });

describe('dedupeKey', () => {
  it('is the SHA-256 of the canonical string, whatever the parts hold (ASCII written in place, anything else hashed as a string)', () => {
    fc.assert(
      fc.property(fc.constantFrom('falco' as const, 'guardduty' as const), partsArb, (prefix, parts) => {
        expect(dedupeKey(prefix, parts)).toBe(reference(prefix, parts));
      }),
      { numRuns: 5000 },
    );
  });

  it('writes the canonical string itself when it is ASCII, and declines otherwise', () => {
    const parts = { rule: 'PRJ_EXEC_RECON', ip: undefined, port: 4444, path: null, cmdline: 'sh -c "id; whoami"' };
    expect(canonicalString(parts)).toBe('rule=14:PRJ_EXEC_RECON;ip=-;port=4:4444;path=-;cmdline=18:sh -c "id; whoami";');
    expect(canonicalBytes(parts)).toBe(canonicalString(parts).length);
    expect(canonicalBytes({ cmdline: 'café' })).toBe(-1);
    expect(canonicalBytes({ cmdline: '\ud800' })).toBe(-1);
  });

  it('keeps keys of values too long for the scratch space, and of non-ASCII text, equal to the definition', () => {
    for (const cmdline of ['A'.repeat(20_000), `${'A'.repeat(16_370)}`, 'é'.repeat(9000), 'x\ud83d\ude00y', 'lone \udc00 surrogate']) {
      const parts = { rule: 'r', node: 'n', cmdline };
      expect(dedupeKey('falco', parts)).toBe(reference('falco', parts));
    }
  });

  it("gives the sample events the keys they had (incident ids of a running deployment must not change)", () => {
    const config = loadPlaybookConfig();
    const keys = Object.fromEntries(
      fixtureNames().map((f) => {
        const outcome = triageEvent(loadFixture(f), config);
        return [f.replace('.json', ''), outcome.ok ? outcome.result.dedupeKey : outcome.error];
      }),
    );
    expect(keys).toEqual({
      'falco-terminal-shell': 'falco-199776823dbf9f942c9b518205b27cddb1df2e61',
      'falcosidekick-reverse-shell': 'falco-e1a1856e1b1f979d05b1906b408381051b7a3fdf',
      'fluentbit-artifact-exec': 'falco-1fc969c4d6316b4814bb48545aeb61fc775775a7',
      'fluentbit-artifact-write': 'falco-8d86010d8aa8a0ee340dba8751838e3b3df7755d',
      'fluentbit-exec-audit': 'falco-a39221f01a6633d7f6f2237ed1b91b3890dc73da',
      'fluentbit-exec-interactive': 'falco-750d3868aa914ee1deed9b74e20a813825b7ac2b',
      'fluentbit-exec-recon': 'falco-7eaf7626b9ad844c70cbadec78901fc6563a54b2',
      'fluentbit-raw-message-webshell': 'falco-8d25a7d64f2933a7daaa8ef7ea45d0a4cdb93e46',
      'fluentbit-reverse-shell': 'falco-69720c97cc521960b1f3c9f93c861e0219db981b',
      'fluentbit-upload-move': 'falco-2e81a797c244fe01a5942b4de75704b66233f410',
      'guardduty-ec2-low-severity': 'guardduty-68b3e0dd307859af56929060f4577e69f2af1519',
      'guardduty-ec2-reverse-shell': 'guardduty-e8a5098cfa73ef88513a942822fa4b90f3632ef7',
      'guardduty-iam-credential-exfiltration': 'guardduty-53156a931e3c2d07f4d503a3dd02dbc81a7abad7',
    });
  });
});
