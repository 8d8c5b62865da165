import { ButtonStyle, type APIEmbed } from 'discord.js';
import type { ActionResult } from '../../pipeline/actions/types.js';
import { actionResultText } from './actionDetails.js';
import { escapeText } from './escapeText.js';
import { LIMITS, fitEmbed } from './limits.js';
import { type RenderedEphemeral, type RenderedMessage, actorText, assertRenderId, button, buttonRow, ephemeral, message, whenText } from './payload.js';

export interface ConfirmationInput {
  /** `[A-Za-z0-9_-]{8,40}`: it goes into the buttons' custom_id. */
  confirmId: string;
  /** What the command will do, in one line (`isolate pod prod/web-7d9f`). */
  command: string;
  /** The command's dry run. */
  preflight: ActionResult<object>;
  /** 2 when the action is a two-person action: a different responder must confirm too. */
  requiredConfirmations?: 1 | 2;
  /** Observe mode: confirming runs the action as a dry run. */
  observe?: boolean;
}

export interface SecondConfirmationInput {
  confirmId: string;
  /** What the command will do, in one line. */
  command: string;
  /** The slash command (`/isolate`). */
  slashCommand: string;
  /** `discord:<id>` of the responder who ran it (and confirmed its plan). */
  initiatedBy: string;
  reason: string;
  preflight: ActionResult<object>;
  expiresAt: Date;
  observe?: boolean;
}

export interface CommandResultOptions {
  /** Observe mode: the action ran as a dry run. */
  observe?: boolean;
  /** Who confirmed it (`discord:<id>`), shown when two did. */
  confirmedBy?: readonly string[];
}

const CONFIRM_COLOR = 0xfbc02d;
const RESULT_COLORS = { succeeded: 0x43a047, skipped: 0x9e9e9e, failed: 0xd32f2f } as const;

export const OBSERVE_PLAN_NOTE = '👁 Observe mode (SENTINEL_MODE=observe): confirming runs this as a dry run; nothing will change.';
export const OBSERVE_RESULT_NOTE = '👁 Observe mode (SENTINEL_MODE=observe): this showed the plan and changed nothing.';
const TWO_PERSON_NOTE = 'Two-person action: after you confirm, a different responder must confirm too (the request is posted in the channel).';

/** `cfm:<confirmId>:yes` / `cfm:<confirmId>:no`. */
export function confirmCustomId(confirmId: string, answer: 'yes' | 'no'): string {
  assertRenderId('confirmation', confirmId);
  return `cfm:${confirmId}:${answer}`;
}

function confirmButtons(confirmId: string, disabled: boolean, confirmLabel = 'Confirm') {
  return buttonRow(button(confirmCustomId(confirmId, 'yes'), confirmLabel, ButtonStyle.Danger, disabled), button(confirmCustomId(confirmId, 'no'), 'Cancel', ButtonStyle.Secondary));
}

/**
 * An ephemeral "are you sure?" for a slash command: what it will do, its preflight, and Confirm
 * (`cfm:<id>:yes`, disabled when the preflight failed) / Cancel (`cfm:<id>:no`). Says when a
 * second responder must confirm too, and when observe mode makes it a dry run.
 */
export function renderConfirmation(input: ConfirmationInput): RenderedEphemeral {
  const failed = input.preflight.status === 'failed';
  const fields = [{ name: failed ? 'Preflight failed: nothing to confirm' : 'Preflight', value: actionResultText(input.preflight, LIMITS.fieldValue) }];
  if (!failed && input.requiredConfirmations === 2) fields.push({ name: 'Two-person rule', value: TWO_PERSON_NOTE });
  if (input.observe) fields.push({ name: 'Observe mode', value: OBSERVE_PLAN_NOTE });
  const embed = fitEmbed({
    title: 'Confirm this action?',
    description: escapeText(input.command || '(no command)', 1000),
    color: failed ? RESULT_COLORS.failed : CONFIRM_COLOR,
    fields,
  });
  return ephemeral([embed], [confirmButtons(input.confirmId, failed)]);
}

/**
 * The request for a second responder, posted in the incident channel once the initiator confirmed
 * a two-person action: who started it and why, the plan, until when, and Confirm / Cancel.
 */
export function renderSecondConfirmation(input: SecondConfirmationInput): RenderedMessage {
  const fields = [
    { name: 'Started by', value: `${actorText(input.initiatedBy)} with ${escapeText(input.slashCommand, 40, { singleLine: true })}`, inline: true },
    { name: 'Expires', value: whenText(input.expiresAt), inline: true },
    { name: 'Reason', value: escapeText(input.reason || '(none)', 500) },
    { name: 'Plan', value: actionResultText(input.preflight, LIMITS.fieldValue) },
  ];
  if (input.observe) fields.push({ name: 'Observe mode', value: OBSERVE_PLAN_NOTE, inline: false });
  const embed = fitEmbed({
    title: 'Second responder needed',
    description: `${escapeText(input.command || '(no command)', 1000)}\nA responder other than the one who started it must confirm before it runs.`,
    color: CONFIRM_COLOR,
    fields,
  });
  return message([embed], [confirmButtons(input.confirmId, false, 'Confirm as second responder')]);
}

/** The outcome of a command (replaces the confirmation: its buttons are removed). */
export function renderCommandResult(result: ActionResult<object>, title: string, options: CommandResultOptions = {}): RenderedMessage {
  const color = Object.hasOwn(RESULT_COLORS, result.status) ? RESULT_COLORS[result.status] : RESULT_COLORS.skipped;
  const fields: NonNullable<APIEmbed['fields']> = [];
  if (options.observe) fields.push({ name: 'Observe mode', value: OBSERVE_RESULT_NOTE });
  if (options.confirmedBy && options.confirmedBy.length > 1) fields.push({ name: 'Confirmed by', value: options.confirmedBy.map((b) => actorText(b)).join(', ') });
  const embed = fitEmbed({
    title: escapeText(`${options.observe ? 'Observe mode, dry run: ' : ''}${title || 'Result'}`, LIMITS.embedTitle, { singleLine: true }),
    description: actionResultText(result, LIMITS.embedDescription),
    color,
    ...(fields.length ? { fields } : {}),
  });
  return message([embed], []);
}
