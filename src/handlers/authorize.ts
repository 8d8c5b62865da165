import type { APIInteractionGuildMember, GuildMember } from 'discord.js';

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
