import type { IntakeSource } from '../../handlers/ports/intake.js';
import { UserError } from '../../errors.js';

/** `--queue intake|control` of `sentinel dlq list|replay`: one queue's DLQ, or (absent) both. */
export function parseQueueOption(value: string | undefined): { queue?: IntakeSource } {
  if (value === undefined) return {};
  if (value !== 'intake' && value !== 'control') throw new UserError(`--queue ${JSON.stringify(value)}: expected intake or control`);
  return { queue: value };
}
