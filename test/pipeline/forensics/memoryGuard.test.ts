/**
 * The memory guard on its own, and as the bot would call it before a memory-destroying step
 * (an isolate-node-like action whose destroysMemory depends on its input and settings).
 */
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { SentinelError, UserError } from '../../../src/errors.js';
import { defineAction, succeeded, type ActionResult } from '../../../src/pipeline/actions/types.js';
import {
  actionDestroysMemory,
  assertMemoryPreserved,
  memoryCapturedBy,
  MemoryNotPreservedError,
} from '../../../src/pipeline/forensics/memoryGuard.js';
import { testSettings } from '../../helpers/deps.js';

function refusal(fn: () => unknown): MemoryNotPreservedError {
  try {
    fn();
  } catch (err) {
    return err as MemoryNotPreservedError;
  }
  throw new Error('expected a refusal');
}

describe('assertMemoryPreserved', () => {
  it('refuses a memory-destroying step with neither capture nor waiver, as a final user error', () => {
    const err = refusal(() => assertMemoryPreserved({ destroysMemory: true, memory: {}, action: 'isolate-node' }));
    expect(err).toBeInstanceOf(MemoryNotPreservedError);
    expect(err).toBeInstanceOf(UserError);
    expect(err).toBeInstanceOf(SentinelError);
    expect(err.code).toBe('MemoryNotPreserved');
    expect(err.message).toContain('isolate-node');
    expect(err.message).toContain('capture-memory');
  });

  it('refuses a failed capture and an empty or blank waiver', () => {
    for (const memory of [{ captured: false }, { waivedBy: '' }, { waivedBy: '   ' }, { captured: false, waivedBy: ' ' }]) {
      expect(() => assertMemoryPreserved({ destroysMemory: true, memory })).toThrow(MemoryNotPreservedError);
    }
  });

  it('lets the step through after a capture, or a named waiver, and says which', () => {
    expect(assertMemoryPreserved({ destroysMemory: true, memory: { captured: true } })).toBe('captured');
    expect(assertMemoryPreserved({ destroysMemory: true, memory: { waivedBy: 'discord:123456789012345678' } })).toBe('waived');
    expect(assertMemoryPreserved({ destroysMemory: false, memory: {} })).toBe('not-needed');
  });
});

describe('wired in front of an isolate-node-like action', () => {
  const isolateLike = defineAction({
    id: 'isolate-node',
    description: 'test double with isolate-node\'s input shape',
    permissions: { iam: [], rbac: [] },
    input: z.strictObject({ node: z.string(), stopInstance: z.boolean().optional() }),
    destroysMemory: (input, settings) => input.stopInstance ?? settings.stopOnIsolate,
    run: async (request) => succeeded(`isolated ${request.input.node}`, { stopped: request.input.stopInstance === true }),
  });
  const settings = testSettings();

  /** What the bot does: evaluate the flag for this input, check the guard, then run. */
  async function guardedRun(rawInput: unknown, memory: { captured?: boolean; waivedBy?: string }): Promise<ActionResult<object>> {
    const input = isolateLike.input.parse(rawInput);
    assertMemoryPreserved({ destroysMemory: actionDestroysMemory(isolateLike, input, settings), memory, action: isolateLike.id });
    return isolateLike.run({ input, actor: 'discord:1', incidentId: 'inc-1' }, undefined as never);
  }

  it('refuses stop requested without a capture, and runs nothing', async () => {
    let ran = false;
    const original = isolateLike.run;
    isolateLike.run = async (...args) => {
      ran = true;
      return original(...args);
    };
    try {
      await expect(guardedRun({ node: 'i-0123456789abcdef0', stopInstance: true }, {})).rejects.toMatchObject({ code: 'MemoryNotPreserved' });
      expect(ran).toBe(false);
    } finally {
      isolateLike.run = original;
    }
  });

  it('lets stop through after a capture or a waiver', async () => {
    await expect(guardedRun({ node: 'i-0123456789abcdef0', stopInstance: true }, { captured: true })).resolves.toMatchObject({ status: 'succeeded', details: { stopped: true } });
    await expect(guardedRun({ node: 'i-0123456789abcdef0', stopInstance: true }, { waivedBy: 'discord:42' })).resolves.toMatchObject({ status: 'succeeded' });
  });

  it('does not block isolation without stop; the settings default decides when the input is silent', async () => {
    await expect(guardedRun({ node: 'i-0123456789abcdef0', stopInstance: false }, {})).resolves.toMatchObject({ status: 'succeeded' });
    await expect(guardedRun({ node: 'i-0123456789abcdef0' }, {})).resolves.toMatchObject({ status: 'succeeded' });
    expect(actionDestroysMemory(isolateLike, { node: 'n' }, testSettings({ stopOnIsolate: true }))).toBe(true);
    expect(actionDestroysMemory(isolateLike, { node: 'n', stopInstance: false }, testSettings({ stopOnIsolate: true }))).toBe(false);
  });

  it('evaluates static flags too', () => {
    expect(actionDestroysMemory({ destroysMemory: true }, {}, settings)).toBe(true);
    expect(actionDestroysMemory({ destroysMemory: false }, {}, settings)).toBe(false);
    expect(actionDestroysMemory({}, {}, settings)).toBe(false);
  });
});

describe('memoryCapturedBy (reading capture-memory results)', () => {
  it('is true only for a real (or earlier) capture, never for a dry run or a failure', () => {
    expect(memoryCapturedBy({ status: 'succeeded', summary: '', details: { memoryCaptured: true } })).toBe(true);
    expect(memoryCapturedBy({ status: 'skipped', summary: '', details: { memoryCaptured: true, alreadyCaptured: true } })).toBe(true);
    expect(memoryCapturedBy({ status: 'skipped', summary: '', details: { memoryCaptured: true, dryRun: true } })).toBe(false);
    expect(memoryCapturedBy({ status: 'failed', summary: '', details: { memoryCaptured: true } })).toBe(false);
    expect(memoryCapturedBy({ status: 'failed', summary: '', details: { error: 'NoLimeModule', memoryCaptured: false } })).toBe(false);
    expect(memoryCapturedBy({ status: 'succeeded', summary: '', details: {} })).toBe(false);
  });
});
