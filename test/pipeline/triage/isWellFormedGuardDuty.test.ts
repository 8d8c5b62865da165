import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isWellFormedGuardDutyEvent, isWellFormedGuardDutyFinding } from '../../../src/pipeline/triage/isWellFormedGuardDuty.js';
import { eventSchema, findingSchema } from '../../../src/pipeline/triage/triageGuardDuty.js';
import { fixtureNames, loadFixture } from '../../helpers/events.js';

const EKS_DIR = fileURLToPath(new URL('../../fixtures/guardduty-eks/', import.meta.url));
const events = [
  ...fixtureNames()
    .filter((f) => f.startsWith('guardduty-'))
    .map(loadFixture),
  ...readdirSync(EKS_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(EKS_DIR, f), 'utf8')) as Record<string, unknown>),
];
const findings = events.map((e) => e.detail as Record<string, unknown>);

/** Every path to a value inside a JSON value (objects' keys, arrays' indexes), the root included. */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out = [prefix];
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...prefix, Array.isArray(value) ? Number(k) : k]));
  }
  return out;
}

/** A copy of `value` with the value at `path` replaced (or removed, for `remove`). */
function replaceAt(value: unknown, path: readonly (string | number)[], replacement: unknown, remove: boolean): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path;
  const copy = Array.isArray(value) ? [...(value as unknown[])] : { ...(value as Record<string, unknown>) };
  const c = copy as Record<string | number, unknown>;
  if (rest.length === 0 && remove) delete c[head!];
  else c[head!] = replaceAt(c[head!], rest, replacement, remove);
  return copy;
}

const anyValue = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.constantFrom('', '7.5', ' 8 ', 'GuardDuty Finding', 'pods', '203.0.113.9'),
  fc.constant(null),
  fc.constant(undefined),
  fc.integer({ min: -5, max: 70000 }),
  fc.double(),
  fc.boolean(),
  fc.array(fc.oneof(fc.string({ maxLength: 3 }), fc.integer(), fc.constant(null)), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.string({ maxLength: 3 }), fc.integer(), fc.constant(null)), { maxKeys: 3 }),
);

/** Up to three values of a sample replaced or removed, anywhere in it. */
function mutated(samples: readonly Record<string, unknown>[]) {
  return fc
    .tuple(fc.nat(samples.length - 1), fc.array(fc.tuple(fc.nat(), anyValue, fc.boolean()), { minLength: 1, maxLength: 3 }))
    .map(([i, edits]) => {
      let v: unknown = samples[i]!;
      for (const [at, replacement, remove] of edits) {
        const paths = pathsOf(v);
        v = replaceAt(v, paths[at % paths.length]!, replacement, remove);
      }
      return v;
    });
}

describe('the fast GuardDuty checks agree with the zod schemas', () => {
  it('take every sample finding and event (so triage reads them without the copy)', () => {
    expect(events.length).toBeGreaterThanOrEqual(6);
    for (const e of events) expect(isWellFormedGuardDutyEvent(e)).toBe(true);
    for (const f of findings) expect(isWellFormedGuardDutyFinding(f)).toBe(true);
  });

  it('accept a finding only when the schema does and gives it back unchanged', () => {
    fc.assert(
      fc.property(mutated(findings), (v) => {
        if (!isWellFormedGuardDutyFinding(v)) return;
        const parsed = findingSchema.safeParse(v);
        expect(parsed.success).toBe(true);
        expect(parsed.data).toEqual(v);
      }),
      { numRuns: 3000 },
    );
  });

  it('accept an event only when the schema does and gives it back unchanged', () => {
    fc.assert(
      fc.property(mutated(events), (v) => {
        if (!isWellFormedGuardDutyEvent(v)) return;
        const parsed = eventSchema.safeParse(v);
        expect(parsed.success).toBe(true);
        expect(parsed.data).toEqual(v);
      }),
      { numRuns: 3000 },
    );
  });

  it('leave to the schema what it changes or refuses: a numeric string severity, an empty id, an array for an object', () => {
    const f = findings[0]!;
    expect(isWellFormedGuardDutyFinding({ ...f, severity: '8.0' })).toBe(false);
    expect(findingSchema.safeParse({ ...f, severity: '8.0' }).data?.severity).toBe(8);
    expect(isWellFormedGuardDutyFinding({ ...f, id: '' })).toBe(false);
    expect(isWellFormedGuardDutyFinding({ ...f, resource: [] })).toBe(false);
    expect(isWellFormedGuardDutyFinding({ ...f, severity: 11 })).toBe(false);
    expect(isWellFormedGuardDutyEvent({ ...events[0]!, 'detail-type': 'Other' })).toBe(false);
  });
});
