import type { z } from 'zod';
import { ValidationError } from '../../errors.js';

/** A zod error as `path: message; …` (`input` for the whole value). */
export function describeInputIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
}

/** Parses an action's input; ValidationError `invalid input for <action>: …` when it does not fit. */
export function parseActionInput<S extends z.ZodType>(schema: S, raw: unknown, actionId: string): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new ValidationError(`invalid input for ${actionId}: ${describeInputIssues(parsed.error)}`);
  return parsed.data;
}
