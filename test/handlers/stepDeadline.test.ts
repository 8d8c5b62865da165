import { describe, expect, it } from 'vitest';
import { stepDeadline } from '../../src/handlers/stepDeadline.js';

describe('stepDeadline', () => {
  const entered = '2026-12-05T10:00:00.000Z';

  it('is the entered time plus the timeout for a first attempt', () => {
    expect(stepDeadline({ enteredAt: entered, timeoutSeconds: 900 }, new Date('2026-12-05T10:00:00.120Z'))?.toISOString()).toBe('2026-12-05T10:15:00.120Z');
    expect(stepDeadline({ enteredAt: entered, timeoutSeconds: 900 }, undefined)?.toISOString()).toBe('2026-12-05T10:15:00.000Z');
  });

  it('runs from when a retried attempt was sent, not from when the state was entered', () => {
    expect(stepDeadline({ enteredAt: entered, timeoutSeconds: 60 }, new Date('2026-12-05T10:02:05.000Z'))?.toISOString()).toBe('2026-12-05T10:03:05.000Z');
  });

  it('is unknown without a timeout or any start time', () => {
    expect(stepDeadline({ enteredAt: entered }, new Date())).toBeUndefined();
    expect(stepDeadline({ timeoutSeconds: 900 }, undefined)).toBeUndefined();
  });
});
