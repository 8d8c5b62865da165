import { MessageFlags, type ChatInputCommandInteraction } from 'discord.js';
import { invokeAction } from '../../pipeline/invokeAction.js';
import { renderCommandResult, renderConfirmation } from '../render/confirmMessage.js';
import { requiredApprovalsFor } from '../../policy/requiredApprovalsFor.js';
import { auditPerson } from '../authorize.js';
import type { HandlerContext } from '../context.js';
import { replaceText } from './replies.js';

/** What a slash command asks for, once its options are valid. */
export interface CommandPlan {
  /** The command as typed: `/isolate`, `/unblock`, `/evidence collect`. */
  command: string;
  actionId: string;
  /** The action's input. */
  input: unknown;
  /** Why (recorded with the action and in the audit). */
  reason: string;
  /** What it will do, in one line: `isolate pod prod/web-7d9f`. */
  summary: string;
}

/**
 * Plan-then-confirm, the same for every slash command that changes something: runs the action's
 * preflight as a dry run and shows it ephemerally with Confirm/Cancel, keeping a pending
 * confirmation (src/stores/confirmationStore.ts) that says how many different responders
 * must confirm (SENTINEL_TWO_PERSON_ACTIONS). A preflight that failed, or that finds nothing to
 * do, is shown as it is, with nothing to confirm. Nothing changes here; every outcome is audited.
 * The interaction must not have been answered yet.
 */
export async function planCommand(interaction: ChatInputCommandInteraction, ctx: HandlerContext, plan: CommandPlan): Promise<void> {
  await interaction.deferReply({ flags: MessageFlags.Ephemeral });
  const userId = interaction.user.id;
  const who = `discord:${userId}`;
  const incidentId = `manual-${interaction.id}`;
  const audit = (outcome: string, detail: Record<string, unknown>) =>
    auditPerson(ctx, userId, { what: plan.command, outcome, incidentId, detail: { actionId: plan.actionId, input: plan.input, reason: plan.reason, ...detail } });

  const def = ctx.actions[plan.actionId];
  if (!def) {
    await interaction.editReply(replaceText(`The ${plan.actionId} action is not available.`));
    await audit('failed', { error: 'action not available' });
    return;
  }
  const preflight = await invokeAction(def, plan.input, { actor: who, incidentId, dryRun: true, reason: plan.reason }, ctx.actionDeps);
  const nothingToDo = preflight.status === 'skipped' && (preflight.details as { dryRun?: unknown }).dryRun !== true;
  if (preflight.status === 'failed' || nothingToDo) {
    await interaction.editReply(renderCommandResult(preflight, plan.summary));
    await audit(nothingToDo ? 'nothing-to-do' : 'preflight-failed', { preflight: preflight.status, summary: preflight.summary });
    return;
  }
  const requiredConfirmations = requiredApprovalsFor(plan.actionId, ctx.bot.twoPersonActions);
  const observe = ctx.bot.mode === 'observe';
  const pending = ctx.confirmations.add({ command: plan.command, initiatedBy: who, actionId: plan.actionId, input: plan.input, reason: plan.reason, incidentId, summary: plan.summary, requiredConfirmations });
  const { flags: _flags, ...payload } = renderConfirmation({ confirmId: pending.confirmId, command: plan.summary, preflight, requiredConfirmations, observe });
  await interaction.editReply(payload);
  await audit('planned', { preflight: preflight.status, requiredConfirmations, ...(observe ? { observe } : {}) });
}
