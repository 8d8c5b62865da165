import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_STORED_EVENT_BYTES, storedEventLine, toStoredEvent } from '../../src/stores/incidentStore.js';

const AT = new Date('2026-03-01T10:00:00.000Z');

describe('storedEventLine', () => {
  it('is the text of the stored event, for any JSON event and message id', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ minLength: 1, maxLength: 200 }), (event, messageId) => {
        expect(storedEventLine(AT, messageId, event)).toBe(JSON.stringify(toStoredEvent(AT, messageId, event)));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps an event over the size limit as its prefix, size and hash, as toStoredEvent does', () => {
    const event = { output: 'x'.repeat(MAX_STORED_EVENT_BYTES + 10) };
    const line = storedEventLine(AT, 'm-1', event);
    expect(line).toBe(JSON.stringify(toStoredEvent(AT, 'm-1', event)));
    expect(JSON.parse(line)).toMatchObject({ messageId: 'm-1', truncated: { bytes: MAX_STORED_EVENT_BYTES + 23 } });
  });

  it('stores an event that cannot be serialized as toStoredEvent does', () => {
    const cyclic: Record<string, unknown> = { rule: 'x' };
    cyclic.self = cyclic;
    expect(storedEventLine(AT, 'm-1', cyclic)).toBe(JSON.stringify(toStoredEvent(AT, 'm-1', cyclic)));
    expect(storedEventLine(AT, 'm-2', undefined)).toBe(JSON.stringify(toStoredEvent(AT, 'm-2', undefined)));
  });
});
