import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadPlaybookConfig } from '../../../src/pipeline/triage/playbookConfig.js';
import { ROUTES, SEVERITIES } from '../../../src/pipeline/triage/types.js';
import { triageEvent } from '../../../src/pipeline/triage/triageEvent.js';
import { falcoJsonSchema, fluentBitSchema, isWellFormedFalcoJson, isWellFormedFluentBit } from '../../../src/pipeline/triage/normalizeFalco.js';
import { fixtureNames, loadFixture } from '../../helpers/events.js';

const config = loadPlaybookConfig();
const samples = fixtureNames().map(loadFixture);

function checkOutcome(value: unknown) {
  const outcome = triageEvent(value, config);
  if (outcome.ok) {
    expect(ROUTES).toContain(outcome.result.route);
    expect(SEVERITIES).toContain(outcome.result.severity);
    expect(outcome.result.dedupeKey).toMatch(/^(falco|guardduty)-[0-9a-f]{40}$/);
    expect(Array.isArray(outcome.result.steps)).toBe(true);
  } else {
    expect(typeof outcome.error).toBe('string');
    expect(outcome.error.length).toBeGreaterThan(0);
  }
}

/** Replaces one value somewhere inside a JSON value. */
function mutate(value: unknown, path: number[], replacement: unknown): unknown {
  if (path.length === 0 || value === null || typeof value !== 'object') return replacement;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return replacement;
  const [head, ...rest] = path;
  const idx = head! % entries.length;
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [...value] : { ...(value as object) };
  const key = entries[idx]![0];
  (copy as Record<string, unknown>)[key] = mutate(entries[idx]![1], rest, replacement);
  return copy;
}

describe('triage properties', () => {
  it('never throws on random JSON values', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => checkOutcome(v)), { numRuns: 500 });
  });

  it('never throws on mutated samples', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...samples),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.oneof(fc.jsonValue(), fc.string(), fc.string({ unit: 'binary' }), fc.constant(null), fc.constant(undefined)),
        (sample, path, replacement) => checkOutcome(mutate(sample, path, replacement)),
      ),
      { numRuns: 1500 },
    );
  });

  it('never throws on random text in a Falco log line', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('Critical', 'Warning', 'Notice', 'Debug'),
        fc.constantFrom('ARTIFACT_EXEC ', 'ARTIFACT_Reverse_Shell_Suspected! Attacker_IP: ', 'DVWA_UPLOAD_MOVE src=', 'PRJ_EXEC_RECON proc=', ''),
        fc.string({ unit: 'grapheme', maxLength: 300 }),
        (priority, head, tail) => checkOutcome({ falco: { log: `2026-11-20T03:14:07Z: ${priority} ${head}${tail}` } }),
      ),
      { numRuns: 1500 },
    );
  });

  it('never lets a command line change the route of a sample', () => {
    const recon = loadFixture('fluentbit-exec-recon.json') as { falco: { log: string } };
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.constantFrom('ARTIFACT_WEBSHELL', 'Attacker_IP: 8.8.8.8 Attacker_Port: 53', 'ns=kube-system', ' node=x '), (noise, inject) => {
        const event = { falco: { ...recon.falco, log: recon.falco.log.replace('cmdline=whoami', `cmdline=whoami ${noise} ${inject}`) } };
        const outcome = triageEvent(event, config);
        expect(outcome.ok).toBe(true);
        if (outcome.ok) {
          expect(outcome.result.route).toBe('approval');
          expect(outcome.result.ioc).toBeUndefined();
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('fast structural checks agree with the zod schemas', () => {
  const field = fc.oneof(fc.string(), fc.constant(null), fc.constant(undefined), fc.integer(), fc.array(fc.string()), fc.dictionary(fc.string(), fc.jsonValue()));
  it('accepts Falco JSON only when the schema does', () => {
    fc.assert(
      fc.property(fc.record({ rule: field, output: field, priority: field, output_fields: field, hostname: field, tags: field, time: field, source: field, uuid: field }, { requiredKeys: [] }), (v) => {
        if (isWellFormedFalcoJson(v)) expect(falcoJsonSchema.safeParse(v).success).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts Fluent Bit records only when the schema does', () => {
    fc.assert(
      fc.property(
        fc.record({ falco: fc.oneof(field, fc.record({ log: field, raw_message: field, kubernetes: fc.oneof(field, fc.record({ host: field })) }, { requiredKeys: [] })), kubernetes: fc.oneof(field, fc.record({ host: field })) }, { requiredKeys: [] }),
        (v) => {
          if (isWellFormedFluentBit(v)) expect(fluentBitSchema.safeParse(v).success).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
