import { ButtonStyle } from 'discord.js';
import type { ActionResult } from '../../pipeline/actions/types.js';
import { actionResultText } from './actionDetails.js';
import { escapeText } from './escapeText.js';
import { LIMITS, fitEmbed } from './limits.js';
import { type RenderedEphemeral, type RenderedMessage, assertRenderId, button, buttonRow, ephemeral, message } from './payload.js';

export interface ConfirmationInput {
  /** `[A-Za-z0-9_-]{8,40}`: it goes into the buttons' custom_id. */
  confirmId: string;
  /** What the command will do, in one line (`isolate pod prod/web-7d9f`). */
  command: string;
  /** The command's dry run. */
  preflight: ActionResult<object>;
}

const CONFIRM_COLOR = 0xfbc02d;
const RESULT_COLORS = { succeeded: 0x43a047, skipped: 0x9e9e9e, failed: 0xd32f2f } as const;

/** `cfm:<confirmId>:yes` / `cfm:<confirmId>:no`. */
export function confirmCustomId(confirmId: string, answer: 'yes' | 'no'): string {
  assertRenderId('confirmation', confirmId);
  return `cfm:${confirmId}:${answer}`;
}

/**
 * An ephemeral "are you sure?" for a slash command: what it will do, its preflight, and Confirm
 * (`cfm:<id>:yes`, disabled when the preflight failed) / Cancel (`cfm:<id>:no`).
 */
export function renderConfirmation(input: ConfirmationInput): RenderedEphemeral {
  const failed = input.preflight.status === 'failed';
  const embed = fitEmbed({
    title: 'Confirm this action?',
    description: escapeText(input.command || '(no command)', 1000),
    color: failed ? RESULT_COLORS.failed : CONFIRM_COLOR,
    fields: [{ name: failed ? 'Preflight failed: nothing to confirm' : 'Preflight', value: actionResultText(input.preflight, LIMITS.fieldValue) }],
  });
  return ephemeral(
    [embed],
    [buttonRow(button(confirmCustomId(input.confirmId, 'yes'), 'Confirm', ButtonStyle.Danger, failed), button(confirmCustomId(input.confirmId, 'no'), 'Cancel', ButtonStyle.Secondary))],
  );
}

/** The outcome of a command (replaces the confirmation: its buttons are removed). */
export function renderCommandResult(result: ActionResult<object>, title: string): RenderedMessage {
  const color = Object.hasOwn(RESULT_COLORS, result.status) ? RESULT_COLORS[result.status] : RESULT_COLORS.skipped;
  const embed = fitEmbed({
    title: escapeText(title || 'Result', LIMITS.embedTitle, { singleLine: true }),
    description: actionResultText(result, LIMITS.embedDescription),
    color,
  });
  return message([embed], []);
}
