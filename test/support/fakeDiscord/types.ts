/**
 * Public types of the fake Discord server. Payload types come from discord-api-types, re-exported
 * by discord.js (a type-only import: nothing from discord.js runs inside the fake).
 */
import type { APIApplicationCommand, APIGuildMember, APIMessage, APIRole, APIUser } from 'discord.js';

export type { APIApplicationCommand, APIGuildMember, APIMessage, APIRole, APIUser };

/** A guild channel, thread or DM channel, stored in the shape Discord returns it. */
export interface FakeChannel {
  id: string;
  type: number;
  guild_id?: string;
  name?: string;
  position?: number;
  permission_overwrites?: unknown[];
  parent_id?: string | null;
  topic?: string | null;
  nsfw?: boolean;
  last_message_id?: string | null;
  rate_limit_per_user?: number;
  flags: number;
  /** Threads only. */
  owner_id?: string;
  member_count?: number;
  message_count?: number;
  total_message_sent?: number;
  thread_metadata?: {
    archived: boolean;
    auto_archive_duration: number;
    archive_timestamp: string;
    locked: boolean;
    invitable?: boolean;
    create_timestamp?: string;
  };
  /** DM channels only. */
  recipients?: APIUser[];
}

export type PermissionsInput = bigint | string | number;

export interface RoleSpec {
  name: string;
  id?: string;
  permissions?: PermissionsInput;
  color?: number;
  hoist?: boolean;
  mentionable?: boolean;
  position?: number;
}

export interface ChannelSpec {
  name: string;
  id?: string;
  /** Discord channel type; 0 (GUILD_TEXT) by default. 4 is a category. */
  type?: number;
  topic?: string | null;
  /** Category id or name. */
  parent?: string;
  nsfw?: boolean;
  position?: number;
}

export interface MemberSpec {
  username: string;
  id?: string;
  globalName?: string | null;
  bot?: boolean;
  /** Role ids or role names. */
  roles?: string[];
  nick?: string | null;
}

/** Another guild the bot is added to (a server besides the main one). */
export interface GuildSpec {
  name?: string;
  id?: string;
  /** Its channels; default one text channel `general`. */
  channels?: ChannelSpec[];
  /** Its roles besides @everyone and the bot's managed role. */
  roles?: RoleSpec[];
  /**
   * Its members besides the bot and the owner. Users are global: give the `id` of a main-guild
   * member to put the same person in both guilds. Roles are this guild's (ids or names).
   */
  members?: MemberSpec[];
}

/** A guild added with addGuild(). */
export interface FakeGuild {
  readonly id: string;
  readonly name: string;
  /** One of its channels, by name. Throws if absent. */
  channel(name: string): FakeChannel;
  /** A role of this guild, by id or name. Throws if absent. */
  role(idOrName: string): APIRole;
  /** Guild commands registered in this guild. */
  commands(): APIApplicationCommand[];
}

export interface FakeDiscordOptions {
  /** Bot token the client must present (REST `Authorization: Bot <token>` and gateway IDENTIFY). */
  token?: string;
  applicationId?: string;
  botUsername?: string;
  /** Permissions of the bot's managed role. */
  botPermissions?: PermissionsInput;
  guildId?: string;
  guildName?: string;
  everyonePermissions?: PermissionsInput;
  /** Extra roles; default `Responder` and `Approver`. */
  roles?: RoleSpec[];
  /** Guild channels; default category `sentinel` with text channels `general` and `alerts`. */
  channels?: ChannelSpec[];
  /** Human members besides the owner; default `alice` (Responder) and `bob` (no role). */
  members?: MemberSpec[];
  /** Deadline for the initial interaction response (Discord: 3 s). */
  interactionResponseTimeoutMs?: number;
  /** Lifetime of an interaction token for follow-ups and edits (Discord: 15 min). */
  interactionTokenTtlMs?: number;
  /** HELLO heartbeat_interval (Discord: 41250 ms). */
  heartbeatIntervalMs?: number;
  /**
   * Privileged intents enabled for the application in the developer portal (bit mask of
   * GUILD_MEMBERS 1<<1, GUILD_PRESENCES 1<<8, MESSAGE_CONTENT 1<<15). Default: all three.
   * IDENTIFY asking for one that is not enabled is closed with 4014.
   */
  privilegedIntents?: number;
  /**
   * Per-channel limits on message writes (create, edit, delete, thread from a message), as Discord
   * enforces them (about 5 per 5 s): beyond `limit` in any `windowMs`, a write is answered 429.
   * Off by default (every answer then has requests to spare).
   */
  channelRateLimit?: { limit: number; windowMs: number };
  /** Debug log sink (default: silent). */
  log?: (line: string) => void;
}

export interface RecordedFile {
  /** Multipart field name, e.g. `files[0]`. */
  field: string;
  filename: string;
  contentType: string;
  size: number;
  data: Buffer;
}

export interface RecordedCall {
  /** 1, 2, 3… in the order the answers were sent. */
  seq: number;
  method: string;
  /** Path without the `/api/v10` prefix, percent-decoded, e.g. `/webhooks/1/tok/messages/@original`. */
  path: string;
  /** Route template that matched, e.g. `/channels/:channel_id/messages`; null if none did. */
  route: string | null;
  /** API version in the URL (10 for `/api/v10/...`), null for unversioned paths. */
  version: number | null;
  query: Record<string, string>;
  /** Parsed body: JSON, or `payload_json` of a multipart body; undefined if none. */
  body: unknown;
  files: RecordedFile[];
  headers: Record<string, string>;
  status: number;
  /** Parsed JSON of the response, undefined for 204. */
  response: unknown;
  /** Set when the answer came from injectRateLimit / injectServerError. */
  injected?: 'rate_limit' | 'server_error';
  /** Time the request arrived (ms since the Unix epoch). */
  at: number;
  durationMs: number;
}

export type CallFilter =
  | {
      method?: string;
      /** Exact path, a template with `:params` (e.g. `/channels/:id/messages`), or a RegExp. */
      path?: string | RegExp;
      status?: number;
    }
  | ((call: RecordedCall) => boolean);

export interface FaultMatch {
  method?: string;
  /** Exact path, a template with `:params`, or a RegExp (matched against the path without `/api/v10`). */
  path?: string | RegExp;
}

export interface RateLimitInjection extends FaultMatch {
  /** How many matching requests get a 429 (default 1). */
  times?: number;
  /** Seconds (fractions allowed; default 0.05). Discord rounds the header up to whole seconds; the fake does not, to keep tests fast. */
  retryAfter?: number;
  global?: boolean;
  scope?: 'user' | 'shared' | 'global';
}

export interface ServerErrorInjection extends FaultMatch {
  times?: number;
  status?: 500 | 502 | 503 | 504;
}

export interface InjectedFault {
  readonly kind: 'rate_limit' | 'server_error';
  /** Requests answered by this fault so far. */
  readonly hits: number;
  /** Answers still to give. */
  readonly remaining: number;
  cancel(): void;
}

export interface GatewayFrame {
  direction: 'in' | 'out';
  sessionId: string | null;
  op: number;
  t: string | null;
  s: number | null;
  d: unknown;
  at: number;
}

export interface InteractionCallbackRecord {
  /** Interaction callback type (4 reply, 5 deferred reply, 6 deferred update, 7 update, 8 autocomplete, 9 modal). */
  type: number;
  data: Record<string, unknown> | undefined;
  /** HTTP status the fake answered with. */
  status: number;
  /** The Discord error code for rejected attempts. */
  errorCode?: number;
  ephemeral: boolean;
  at: number;
}

export interface InteractionEditRecord {
  /** `@original` or a follow-up message id. */
  target: string;
  messageId: string;
  body: Record<string, unknown>;
  at: number;
}

export interface InteractionHandle {
  readonly id: string;
  readonly token: string;
  /** The INTERACTION_CREATE payload dispatched over the gateway. */
  readonly payload: Record<string, unknown>;
  /** The accepted initial response, once there is one. */
  readonly response: InteractionCallbackRecord | undefined;
  /** Every callback attempt, accepted or rejected, in order. */
  readonly attempts: readonly InteractionCallbackRecord[];
  readonly followUps: readonly APIMessage[];
  readonly edits: readonly InteractionEditRecord[];
  readonly acknowledged: boolean;
  /** Ephemeral flag of the initial response (undefined before it). */
  readonly ephemeral: boolean | undefined;
  /** The current @original message (reply, deferred placeholder or the component's message). */
  original(): APIMessage | undefined;
  /**
   * Resolves with the initial response; rejects once the response deadline (3 s by default)
   * passes without one.
   */
  waitForResponse(): Promise<InteractionCallbackRecord>;
  waitForFollowUp(predicate?: (message: APIMessage) => boolean, timeoutMs?: number): Promise<APIMessage>;
  waitForEdit(predicate?: (edit: InteractionEditRecord) => boolean, timeoutMs?: number): Promise<InteractionEditRecord>;
}

export interface InteractionActor {
  userId: string;
  /** Role ids or names the member has for this interaction (default: the member's current roles). */
  roles?: string[];
  locale?: string;
}

export interface ClickButtonInput extends InteractionActor {
  messageId: string;
  customId: string;
  /** Defaults to the message's channel. */
  channelId?: string;
}

export interface SelectMenuInput extends ClickButtonInput {
  values: string[];
}

export type SlashOptionValue = string | number | boolean;

export interface SlashCommandInput extends InteractionActor {
  name: string;
  /** Option values by name; types come from the registered command (or are inferred). */
  options?: Record<string, SlashOptionValue>;
  subcommand?: string;
  subcommandGroup?: string;
  /**
   * Defaults to the main guild's first text channel. A channel of another guild (addGuild) runs
   * the command there: it must be registered in that guild or globally.
   */
  channelId?: string;
  /** Dispatch even if no such command was registered (Discord would never do that). */
  allowUnregistered?: boolean;
}

export interface ModalSubmitInput extends InteractionActor {
  customId: string;
  /** Text input values by custom_id. */
  fields: Record<string, string>;
  channelId?: string;
}
