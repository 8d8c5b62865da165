/**
 * The payload shape every builder returns, and small pieces they share: buttons, custom ids,
 * Discord timestamps and user mentions.
 */
import {
  type APIActionRowComponent,
  type APIButtonComponentWithCustomId,
  type APIEmbed,
  ComponentType,
  MessageFlags,
  TimestampStyles,
  time,
} from 'discord.js';
import { ValidationError } from '../../errors.js';
import { escapeText } from './escapeText.js';
import { LIMITS, fitEmbed } from './limits.js';

/** Mentions nobody: no user, role, `@everyone` or replied-to author is ever pinged. */
export interface NoMentions {
  parse: [];
}

/** A message usable as discord.js `MessageCreateOptions`, `MessageEditOptions` and `InteractionReplyOptions`. */
export interface RenderedMessage {
  content?: string;
  embeds: APIEmbed[];
  /** Always present: an empty list removes the buttons of an edited message. */
  components: APIActionRowComponent<APIButtonComponentWithCustomId>[];
  allowedMentions: NoMentions;
}

/** An ephemeral interaction reply (`InteractionReplyOptions`). */
export interface RenderedEphemeral extends RenderedMessage {
  flags: MessageFlags.Ephemeral;
}

export function noMentions(): NoMentions {
  return { parse: [] };
}

export function message(embeds: APIEmbed[], components: RenderedMessage['components'] = []): RenderedMessage {
  return { embeds, components, allowedMentions: noMentions() };
}

export function ephemeral(embeds: APIEmbed[], components: RenderedMessage['components'] = []): RenderedEphemeral {
  return { ...message(embeds, components), flags: MessageFlags.Ephemeral };
}

/** Ids the bot generates for approvals and confirmations: short enough for any custom_id. */
export const RENDER_ID = /^[A-Za-z0-9_-]{8,40}$/;

export function assertRenderId(kind: string, id: string): void {
  if (!RENDER_ID.test(id)) throw new ValidationError(`${kind} id must match ${RENDER_ID.source}`, { code: 'InvalidRenderId' });
}

export function button(customId: string, label: string, style: APIButtonComponentWithCustomId['style'], disabled = false): APIButtonComponentWithCustomId {
  if (customId.length === 0 || customId.length > LIMITS.customId) throw new ValidationError(`custom_id must be 1-${LIMITS.customId} characters`, { code: 'InvalidCustomId' });
  if (label.length > LIMITS.buttonLabel) throw new ValidationError(`button label must be at most ${LIMITS.buttonLabel} characters`, { code: 'InvalidLabel' });
  return { type: ComponentType.Button, custom_id: customId, label, style, ...(disabled ? { disabled: true } : {}) };
}

export function buttonRow(...buttons: APIButtonComponentWithCustomId[]): APIActionRowComponent<APIButtonComponentWithCustomId> {
  if (buttons.length < 1 || buttons.length > LIMITS.buttonsPerRow) throw new ValidationError(`a row holds 1-${LIMITS.buttonsPerRow} buttons`);
  return { type: ComponentType.ActionRow, components: buttons };
}

/** A valid Date, or undefined for anything else (strings are parsed). */
export function toDate(value: Date | string | number | undefined | null): Date | undefined {
  if (value === undefined || value === null) return undefined;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** `<t:unix:R>` (relative) or another Discord timestamp style; renders in each reader's time zone. */
export function discordTime(date: Date, style: 'R' | 'f' | 'F' | 'T' = 'R'): string {
  const styles = { R: TimestampStyles.RelativeTime, f: TimestampStyles.ShortDateTime, F: TimestampStyles.LongDateTime, T: TimestampStyles.LongTime } as const;
  return time(Math.floor(date.getTime() / 1000), styles[style]);
}

/** `<t:…:f> (<t:…:R>)`. */
export function whenText(date: Date): string {
  return `${discordTime(date, 'f')} (${discordTime(date, 'R')})`;
}

/** A Discord user id, from `123…` or an actor string `discord:123…`; undefined otherwise. */
export function discordUserId(actor: string): string | undefined {
  return /^(?:discord:)?(\d{15,21})$/.exec(actor)?.[1];
}

/** Who did something: a user mention (shown, never pinged: allowedMentions parses nothing) or the escaped actor. */
export function actorText(actor: string, limit = 120): string {
  const id = discordUserId(actor);
  return id ? `<@${id}>` : escapeText(actor, limit, { singleLine: true });
}

/** An embed field with its importance (higher is kept longer when the embed is too big). */
export interface RankedField {
  name: string;
  value: string;
  inline?: boolean;
  rank: number;
}

/** Builds the embed with `fields` and fits it within Discord's limits (and `budget`). */
export function embedWithFields(embed: Omit<APIEmbed, 'fields'>, fields: readonly RankedField[], budget?: number): APIEmbed {
  const apiFields = fields.map((f) => ({ name: f.name, value: f.value, ...(f.inline ? { inline: true } : {}) }));
  return fitEmbed({ ...embed, fields: apiFields }, { priority: fields.map((f) => f.rank), ...(budget !== undefined ? { budget } : {}) });
}

/** An http(s) URL without credentials, safe inside a masked link (no spaces or parentheses), or undefined. */
export function linkUrl(url: string | undefined, max = 512): string | undefined {
  if (!url) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return undefined;
  if (parsed.username || parsed.password) return undefined;
  const href = parsed.href.replace(/[()]/g, (c) => (c === '(' ? '%28' : '%29'));
  return href.length <= max ? href : undefined;
}
