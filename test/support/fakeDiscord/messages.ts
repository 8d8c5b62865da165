/** Turning create/edit bodies into stored messages with Discord's real object shape. */
import { ErrorCollector } from './errors.js';
import { MessageFlag, assertNotEmpty, validateMessageBody } from './limits.js';
import { discordTimestamp, snowflake } from './snowflake.js';
import { type FakeDiscordState, Permission, THREAD_TYPES, publicUser } from './state.js';
import type { APIMessage, APIUser, FakeChannel, RecordedFile } from './types.js';

type Json = Record<string, unknown>;

export const MessageType = {
  Default: 0,
  Reply: 19,
  ChatInputCommand: 20,
  ThreadStarterMessage: 21,
  ContextMenuCommand: 23,
} as const;

/** Flags a bot may set when sending or editing a message; others are ignored as on Discord. */
const SETTABLE_FLAGS = MessageFlag.SuppressEmbeds | MessageFlag.SuppressNotifications | MessageFlag.IsComponentsV2;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function normalizeTimestamp(value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return undefined;
  return date.toISOString().replace(/\.\d{3}Z$/, (ms) => `${ms.slice(0, 4)}000+00:00`);
}

function normalizeMedia(value: unknown): Json | undefined {
  if (!isObject(value) || typeof value.url !== 'string') return undefined;
  return { url: value.url, proxy_url: value.url, width: 0, height: 0, flags: 0 };
}

/** An embed as Discord returns it: `type: "rich"`, normalized timestamp, `inline` on every field. */
export function normalizeEmbed(embed: Json): Json {
  const out: Json = { type: typeof embed.type === 'string' ? embed.type : 'rich' };
  for (const key of ['url', 'title', 'description', 'color'] as const) {
    if (embed[key] !== undefined && embed[key] !== null) out[key] = embed[key];
  }
  const timestamp = normalizeTimestamp(embed.timestamp);
  if (timestamp) out.timestamp = timestamp;
  if (Array.isArray(embed.fields)) {
    out.fields = embed.fields.filter(isObject).map((f) => ({ name: f.name, value: f.value, inline: f.inline === true }));
  }
  if (isObject(embed.footer)) {
    const footer: Json = { text: embed.footer.text };
    if (typeof embed.footer.icon_url === 'string') {
      footer.icon_url = embed.footer.icon_url;
      footer.proxy_icon_url = embed.footer.icon_url;
    }
    out.footer = footer;
  }
  if (isObject(embed.author)) {
    const author: Json = { name: embed.author.name };
    if (typeof embed.author.url === 'string') author.url = embed.author.url;
    if (typeof embed.author.icon_url === 'string') {
      author.icon_url = embed.author.icon_url;
      author.proxy_icon_url = embed.author.icon_url;
    }
    out.author = author;
  }
  const image = normalizeMedia(embed.image);
  if (image) out.image = image;
  const thumbnail = normalizeMedia(embed.thumbnail);
  if (thumbnail) out.thumbnail = thumbnail;
  out.content_scan_version = 0;
  return out;
}

/** Components as Discord returns them: every component gets a numeric `id` (depth first, from 1). */
export function normalizeComponents(components: unknown[]): Json[] {
  let next = 1;
  const used = new Set<number>();
  const collect = (list: unknown[]): void => {
    for (const c of list) {
      if (!isObject(c)) continue;
      if (typeof c.id === 'number') used.add(c.id);
      if (Array.isArray(c.components)) collect(c.components);
      if (isObject(c.accessory)) collect([c.accessory]);
    }
  };
  collect(components);
  const assign = (list: unknown[]): Json[] =>
    list.filter(isObject).map((c) => {
      const copy: Json = { ...c };
      if (typeof copy.id !== 'number') {
        while (used.has(next)) next += 1;
        copy.id = next;
        used.add(next);
      }
      if (Array.isArray(c.components)) copy.components = assign(c.components);
      if (isObject(c.accessory)) copy.accessory = assign([c.accessory])[0];
      return copy;
    });
  return assign(structuredClone(components));
}

function attachmentFromFile(channelId: string, file: RecordedFile, description?: unknown): Json {
  const id = snowflake();
  const filename = file.filename.replace(/[^\w.-]/g, '_');
  const url = `https://cdn.discordapp.com/attachments/${channelId}/${id}/${filename}`;
  const attachment: Json = {
    id,
    filename,
    size: file.size,
    url,
    proxy_url: url.replace('cdn.discordapp.com', 'media.discordapp.net'),
    content_type: file.contentType,
  };
  if (typeof description === 'string') attachment.description = description;
  return attachment;
}

/**
 * Resolves the `attachments` of a body against uploaded files (`files[n]` ↔ `{ id: n }`).
 * `existing` are the message's current attachments (edits keep the ones listed by id).
 */
function resolveAttachments(channelId: string, body: Json, files: RecordedFile[], existing: Json[]): Json[] {
  const byIndex = new Map<string, RecordedFile>();
  files.forEach((file, i) => {
    const match = /^files\[(\d+)\]$/.exec(file.field);
    byIndex.set(match?.[1] ?? String(i), file);
  });
  if (!Array.isArray(body.attachments)) {
    return [...existing, ...files.map((file) => attachmentFromFile(channelId, file))];
  }
  const out: Json[] = [];
  const used = new Set<RecordedFile>();
  for (const spec of body.attachments) {
    if (!isObject(spec)) continue;
    const key = String(spec.id);
    const file = byIndex.get(key);
    if (file) {
      used.add(file);
      const attachment = attachmentFromFile(channelId, file, spec.description);
      if (typeof spec.filename === 'string') attachment.filename = spec.filename;
      out.push(attachment);
      continue;
    }
    const kept = existing.find((a) => a.id === key);
    if (kept) out.push(kept);
  }
  return out;
}

interface Mentions {
  mentions: APIUser[];
  mention_roles: string[];
  mention_everyone: boolean;
}

function parseMentions(state: FakeDiscordState, content: string, allowed: unknown, authorId: string): Mentions {
  const parse = isObject(allowed) && Array.isArray(allowed.parse) ? (allowed.parse as unknown[]) : undefined;
  const allowedUsers = isObject(allowed) && Array.isArray(allowed.users) ? (allowed.users as unknown[]) : undefined;
  const allowedRoles = isObject(allowed) && Array.isArray(allowed.roles) ? (allowed.roles as unknown[]) : undefined;
  const restricted = isObject(allowed);
  const userOk = (id: string): boolean =>
    !restricted || parse?.includes('users') === true || allowedUsers?.includes(id) === true;
  const roleOk = (id: string): boolean =>
    !restricted || parse?.includes('roles') === true || allowedRoles?.includes(id) === true;
  const everyoneOk = !restricted || parse?.includes('everyone') === true;

  const mentions: APIUser[] = [];
  for (const match of content.matchAll(/<@!?(\d{15,21})>/g)) {
    const id = match[1] ?? '';
    const user = state.users.get(id);
    if (user && userOk(id) && !mentions.some((u) => u.id === id)) mentions.push(publicUser(user));
  }
  const mentionRoles: string[] = [];
  for (const match of content.matchAll(/<@&(\d{15,21})>/g)) {
    const id = match[1] ?? '';
    if (state.roles.has(id) && roleOk(id) && !mentionRoles.includes(id)) mentionRoles.push(id);
  }
  const canEveryone = (state.permissionsOf(authorId) & Permission.MentionEveryone) !== 0n;
  const mentionEveryone = everyoneOk && canEveryone && /@(everyone|here)\b/.test(content);
  return { mentions, mention_roles: mentionRoles, mention_everyone: mentionEveryone };
}

export interface InteractionOrigin {
  id: string;
  type: number;
  name?: string;
  /** Application command type (1 chat input, 2 user, 3 message) for type-2 interactions. */
  commandType?: number;
  user: APIUser;
  /** Component interactions: the message the component is on. */
  messageId?: string;
}

export interface CreateMessageInput {
  channel: FakeChannel;
  author: APIUser;
  body: Json;
  files?: RecordedFile[];
  /** Extra flags forced by the caller (ephemeral, loading). */
  forcedFlags?: number;
  webhookId?: string;
  applicationId?: string;
  interaction?: InteractionOrigin;
  /** Error path prefix (interaction callbacks nest errors under `data`). */
  errorBase?: ReadonlyArray<string | number>;
  /** Deferred placeholders are created empty on purpose. */
  allowEmpty?: boolean;
}

export function createMessage(state: FakeDiscordState, input: CreateMessageInput): APIMessage {
  const { channel, author, body } = input;
  const files = input.files ?? [];
  const flags = ((typeof body.flags === 'number' ? body.flags : 0) & SETTABLE_FLAGS) | (input.forcedFlags ?? 0);
  validateMessageBody(body, { base: input.errorBase, flags });

  let reference: Json | undefined;
  let referenced: APIMessage | undefined;
  if (isObject(body.message_reference) && typeof body.message_reference.message_id === 'string') {
    const ref = body.message_reference;
    const refChannelId = typeof ref.channel_id === 'string' ? ref.channel_id : channel.id;
    referenced = state.messages.get(ref.message_id as string);
    if (!referenced || referenced.channel_id !== refChannelId) {
      referenced = undefined;
      if (ref.fail_if_not_exists !== false) {
        const c = new ErrorCollector();
        c.add([...(input.errorBase ?? []), 'message_reference'], 'MESSAGE_REFERENCE_UNKNOWN_MESSAGE', 'Unknown message');
        c.throwIfAny();
      }
    } else {
      reference = { type: 0, channel_id: refChannelId, message_id: referenced.id, guild_id: channel.guild_id };
    }
  }

  const id = snowflake();
  const attachments = resolveAttachments(channel.id, body, files, []);
  const embeds = Array.isArray(body.embeds) ? body.embeds.filter(isObject).map(normalizeEmbed) : [];
  const components = Array.isArray(body.components) ? normalizeComponents(body.components) : [];
  const content = typeof body.content === 'string' ? body.content : '';
  if (!input.allowEmpty) assertNotEmpty({ content, embeds, components, attachments, sticker_ids: body.sticker_ids, poll: body.poll });

  let type: number = MessageType.Default;
  if (input.interaction) {
    const origin = input.interaction;
    if (origin.type === 2) {
      type = origin.commandType === undefined || origin.commandType === 1 ? MessageType.ChatInputCommand : MessageType.ContextMenuCommand;
    } else {
      type = origin.messageId ? MessageType.Reply : MessageType.ChatInputCommand;
    }
  } else if (reference) {
    type = MessageType.Reply;
  }

  const message: Json = {
    type,
    content,
    mentions: [],
    mention_roles: [],
    attachments,
    embeds,
    timestamp: discordTimestamp(),
    edited_timestamp: null,
    flags,
    components,
    id,
    channel_id: channel.id,
    author: publicUser(author),
    pinned: false,
    mention_everyone: false,
    tts: body.tts === true,
  };
  Object.assign(message, parseMentions(state, content, body.allowed_mentions, author.id));
  if (typeof body.nonce === 'string' || typeof body.nonce === 'number') message.nonce = body.nonce;
  if (input.webhookId) message.webhook_id = input.webhookId;
  if (input.applicationId) message.application_id = input.applicationId;
  if (reference) {
    message.message_reference = reference;
    message.referenced_message = referenced;
  }
  if (input.interaction) {
    const origin = input.interaction;
    const metadata: Json = {
      id: origin.id,
      type: origin.type,
      user: publicUser(origin.user),
      authorizing_integration_owners: { '0': state.guildId },
    };
    if (origin.name !== undefined) metadata.name = origin.name;
    if (origin.messageId) {
      metadata.interacted_message_id = origin.messageId;
      message.message_reference = { type: 0, channel_id: channel.id, message_id: origin.messageId, guild_id: channel.guild_id };
    }
    message.interaction_metadata = metadata;
    message.interaction = { id: origin.id, type: origin.type, name: origin.name ?? '', user: publicUser(origin.user) };
  }

  const stored = message as unknown as APIMessage;
  state.messages.set(id, stored);
  if (!(flags & MessageFlag.Ephemeral)) {
    channel.last_message_id = id;
    if (THREAD_TYPES.has(channel.type)) {
      channel.message_count = (channel.message_count ?? 0) + 1;
      channel.total_message_sent = (channel.total_message_sent ?? 0) + 1;
    }
  }
  return stored;
}

export interface EditMessageOptions {
  files?: RecordedFile[];
  errorBase?: ReadonlyArray<string | number>;
  /** Interaction edits resolve a deferred "thinking" placeholder. */
  clearLoading?: boolean;
}

/** Applies a PATCH body to a stored message (validating it first) and returns the message. */
export function editMessage(
  state: FakeDiscordState,
  message: APIMessage,
  body: Json,
  options: EditMessageOptions = {},
): APIMessage {
  const currentFlags = message.flags ?? 0;
  let flags = currentFlags;
  if (typeof body.flags === 'number') {
    flags = (currentFlags & ~SETTABLE_FLAGS) | (body.flags & SETTABLE_FLAGS);
  }
  if (options.clearLoading) flags &= ~MessageFlag.Loading;
  validateMessageBody(body, { base: options.errorBase, flags });

  const next: Json = { ...(message as unknown as Json) };
  if ('content' in body) next.content = typeof body.content === 'string' ? body.content : '';
  if ('embeds' in body) next.embeds = Array.isArray(body.embeds) ? body.embeds.filter(isObject).map(normalizeEmbed) : [];
  if ('components' in body) next.components = Array.isArray(body.components) ? normalizeComponents(body.components) : [];
  const files = options.files ?? [];
  if ('attachments' in body || files.length > 0) {
    next.attachments = resolveAttachments(
      message.channel_id,
      'attachments' in body && body.attachments === null ? { attachments: [] } : body,
      files,
      (message.attachments ?? []) as unknown as Json[],
    );
  }
  next.flags = flags;
  if (!(flags & MessageFlag.Loading)) {
    assertNotEmpty({
      content: next.content,
      embeds: next.embeds,
      components: next.components,
      attachments: next.attachments,
      poll: next.poll,
    });
  }
  if ('content' in body) {
    Object.assign(next, parseMentions(state, String(next.content ?? ''), body.allowed_mentions, message.author.id));
  }
  // Completing a deferred "thinking" placeholder is not an edit in Discord's eyes.
  if (!(currentFlags & MessageFlag.Loading)) next.edited_timestamp = discordTimestamp();
  const stored = next as unknown as APIMessage;
  state.messages.set(message.id, stored);
  return stored;
}
