import { MessageFlags, type APIInteractionGuildMember, type ButtonInteraction, type ChatInputCommandInteraction, type GuildMember } from 'discord.js';
import type { HandlerContext } from './context.js';

/** The role ids of an interaction's member, cached or raw. */
export function memberRoleIds(member: GuildMember | APIInteractionGuildMember | null | undefined): string[] {
  if (!member) return [];
  const roles = (member as { roles: unknown }).roles;
  if (Array.isArray(roles)) return roles.filter((r): r is string => typeof r === 'string');
  const cache = (roles as { cache?: Map<string, unknown> } | undefined)?.cache;
  return cache ? [...cache.keys()] : [];
}

/** Whether a member holds one of the responder roles. No configured role means nobody is allowed. */
export function isResponder(member: GuildMember | APIInteractionGuildMember | null | undefined, responderRoleIds: readonly string[]): boolean {
  if (responderRoleIds.length === 0) return false;
  const roles = memberRoleIds(member);
  return roles.some((r) => responderRoleIds.includes(r));
}

/** What a person attempts, for the refusal and the audit entry. */
export interface Attempt {
  /** Completes "You are not allowed to …": `run /isolate`, `confirm /unblock`, `decide approvals`. */
  attempt: string;
  /** The audit entry's `what`: the command (`/isolate`) or the approval click (`approval-block`). */
  what: string;
  incidentId?: string;
  approvalId?: string;
}

/** An audit entry for something a person did through an interaction: one shape for every command and button. */
export async function auditPerson(
  ctx: Pick<HandlerContext, 'audit' | 'now'>,
  userId: string,
  entry: { what: string; outcome: string; incidentId?: string | undefined; approvalId?: string | undefined; detail?: unknown },
): Promise<void> {
  await ctx.audit.append({
    at: ctx.now(),
    who: `discord:${userId}`,
    what: entry.what,
    ...(entry.incidentId ? { incidentId: entry.incidentId } : {}),
    ...(entry.approvalId ? { approvalId: entry.approvalId } : {}),
    outcome: entry.outcome,
    ...(entry.detail !== undefined ? { detail: entry.detail } : {}),
  });
}

/**
 * The role check every slash command and every button goes through first, identically: a member
 * without a responder role gets an ephemeral refusal, an audit entry (`refused-unauthorized`,
 * naming the command or button) and a warning in the log. True when allowed.
 */
export async function requireResponder(interaction: ChatInputCommandInteraction | ButtonInteraction, ctx: HandlerContext, attempt: Attempt): Promise<boolean> {
  if (isResponder(interaction.member, ctx.responderRoleIds)) return true;
  await interaction.reply({
    content: `You are not allowed to ${attempt.attempt}: it needs a responder role.`.slice(0, 2000),
    flags: MessageFlags.Ephemeral,
    allowedMentions: { parse: [] },
  });
  const name = interaction.isButton() ? interaction.customId : interaction.commandName;
  await auditPerson(ctx, interaction.user.id, {
    what: attempt.what,
    outcome: 'refused-unauthorized',
    incidentId: attempt.incidentId,
    approvalId: attempt.approvalId,
    detail: { kind: interaction.isButton() ? 'button' : 'slash-command', name },
  });
  ctx.logger.warn('interaction refused: not a responder', { interactionId: interaction.id, userId: interaction.user.id, what: attempt.what });
  return false;
}
