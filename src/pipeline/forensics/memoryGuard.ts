import type { PipelineSettings } from '../../config.js';
import { UserError, type SentinelErrorOptions } from '../../errors.js';
import type { ActionResult } from '../actions/types.js';

/**
 * The rule the earlier system broke: it stopped instances even when memory capture had failed,
 * and the memory was lost. A step that destroys memory (stopping, terminating, rebooting an
 * instance) may only run after a successful capture, or when a named person waived it.
 */

/** A memory-destroying step was asked for without a capture or a waiver. */
export class MemoryNotPreservedError extends UserError {
  constructor(message: string, options: Omit<SentinelErrorOptions, 'code'> = {}) {
    super(message, { ...options, code: 'MemoryNotPreserved' });
  }
}

/** What is known about the incident's memory evidence. */
export interface MemoryState {
  /** A capture succeeded (capture-memory's `details.memoryCaptured`). */
  captured?: boolean;
  /** Who waived the capture (`discord:<userId>`…); a waiver needs a name. */
  waivedBy?: string;
}

export interface MemoryGuardInput {
  destroysMemory: boolean;
  memory: MemoryState;
  /** Named in the refusal, e.g. `isolate-node`. */
  action?: string;
}

/** How the memory was preserved: `not-needed` when the step keeps memory. */
export type MemoryClearance = 'not-needed' | 'captured' | 'waived';

/**
 * Throws MemoryNotPreservedError (code `MemoryNotPreserved`, a refusal: retrying cannot help)
 * when a memory-destroying step is asked for without a successful capture or a person's waiver.
 * Returns why the step may go ahead.
 */
export function assertMemoryPreserved(input: MemoryGuardInput): MemoryClearance {
  if (!input.destroysMemory) return 'not-needed';
  if (input.memory.captured === true) return 'captured';
  const waiver = typeof input.memory.waivedBy === 'string' ? input.memory.waivedBy.trim() : '';
  if (waiver !== '') return 'waived';
  const what = input.action ? `${input.action} would destroy the instance's memory` : 'this step would destroy the instance\'s memory';
  throw new MemoryNotPreservedError(
    `${what}, and it has not been captured: run capture-memory first, or have a responder waive the capture`,
    { details: { action: input.action ?? null, captured: false, waived: false } },
  );
}

/** Evaluates an action definition's `destroysMemory` (a flag, or a function of the input and settings) for this input. */
export function actionDestroysMemory<I>(
  definition: { destroysMemory?: boolean | ((input: I, settings: PipelineSettings) => boolean) },
  input: I,
  settings: PipelineSettings,
): boolean {
  const flag = definition.destroysMemory;
  if (typeof flag === 'function') return Boolean(flag(input, settings));
  return flag === true;
}

/** Whether an action result says memory was captured (capture-memory, now or by an earlier run). */
export function memoryCapturedBy(result: ActionResult<object>): boolean {
  const details = result.details as { memoryCaptured?: unknown; dryRun?: unknown };
  return result.status !== 'failed' && details.dryRun !== true && details.memoryCaptured === true;
}
