import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { checkTwoPersonActions } from '../../src/policy/checkTwoPersonActions.js';
import { requiredApprovalsFor } from '../../src/policy/requiredApprovalsFor.js';

const KNOWN = ['isolate-pod', 'isolate-node', 'unblock-egress', 'waive-memory-capture'];

describe('checkTwoPersonActions', () => {
  it('accepts known ids and an empty list', () => {
    expect(() => checkTwoPersonActions([], KNOWN)).not.toThrow();
    expect(() => checkTwoPersonActions(['isolate-pod', 'waive-memory-capture'], KNOWN)).not.toThrow();
  });

  it('refuses an unknown id with a ConfigError naming it and every known id', () => {
    let err: unknown;
    try {
      checkTwoPersonActions(['isolate-pod', 'isolate-pdo', 'isolate-pdo', 'Isolate-Node'], KNOWN);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).toContain('SENTINEL_TWO_PERSON_ACTIONS names unknown actions: isolate-pdo, Isolate-Node.');
    expect(message).toContain('Known ids: isolate-node, isolate-pod, unblock-egress, waive-memory-capture.');
    expect((err as ConfigError).code).toBe('UnknownTwoPersonAction');
    expect((err as ConfigError).details).toEqual({ unknown: ['isolate-pdo', 'Isolate-Node'], known: [...KNOWN].sort() });
  });
});

describe('requiredApprovalsFor', () => {
  it('is two for a listed action and one otherwise', () => {
    expect(requiredApprovalsFor('isolate-pod', ['isolate-pod'])).toBe(2);
    expect(requiredApprovalsFor('release-pod', ['isolate-pod'])).toBe(1);
  });
});
