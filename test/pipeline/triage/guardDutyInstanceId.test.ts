import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadPlaybookConfig } from '../../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../../src/pipeline/triage/triageEvent.js';
import { loadFixture } from '../../helpers/events.js';

const config = loadPlaybookConfig();
const sample = loadFixture('guardduty-ec2-reverse-shell.json') as { detail: { resource: { instanceDetails: { instanceId: string } } } };
/** The definition of an EC2 instance id triage keeps as the target. */
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;

describe('GuardDuty instance id', () => {
  it('is taken as the target exactly when it is i- and 8 to 17 lower-case hex digits', () => {
    const idArb = fc.oneof(
      fc.tuple(fc.constantFrom('i-', 'I-', 'i_', 'i', ''), fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEFg-\n '), maxLength: 20 })).map(([a, b]) => a + b),
      fc.string({ maxLength: 22 }),
    );
    fc.assert(
      fc.property(idArb, (id) => {
        const event = structuredClone(sample);
        event.detail.resource.instanceDetails.instanceId = id;
        const outcome = triageEvent(event, config);
        expect(outcome.ok).toBe(true);
        if (!outcome.ok) return;
        expect(outcome.result.target.instanceId).toBe(id && INSTANCE_ID.test(id) ? id : undefined);
        expect(outcome.result.warnings.includes('instanceId is not a valid EC2 instance id')).toBe(Boolean(id) && !INSTANCE_ID.test(id));
      }),
      { numRuns: 2000 },
    );
  });
});
