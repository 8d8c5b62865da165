/**
 * Interactions the fake dispatched as INTERACTION_CREATE, their response deadlines and token
 * lifetimes, and the payload builders for button clicks, selects, slash commands and modals.
 */
import { randomBytes } from 'node:crypto';
import { snowflake } from './snowflake.js';
import { type FakeDiscordState, TEXT_CHANNEL_TYPES } from './state.js';
import type {
  APIApplicationCommand,
  APIGuildMember,
  APIMessage,
  APIUser,
  ClickButtonInput,
  InteractionActor,
  InteractionCallbackRecord,
  InteractionEditRecord,
  InteractionHandle,
  ModalSubmitInput,
  SelectMenuInput,
  SlashCommandInput,
  SlashOptionValue,
} from './types.js';

type Json = Record<string, unknown>;

export const InteractionType = {
  Ping: 1,
  ApplicationCommand: 2,
  MessageComponent: 3,
  ApplicationCommandAutocomplete: 4,
  ModalSubmit: 5,
} as const;

export const CallbackType = {
  Pong: 1,
  ChannelMessageWithSource: 4,
  DeferredChannelMessageWithSource: 5,
  DeferredMessageUpdate: 6,
  UpdateMessage: 7,
  ApplicationCommandAutocompleteResult: 8,
  Modal: 9,
  LaunchActivity: 12,
} as const;

export class InteractionRecord {
  readonly attempts: InteractionCallbackRecord[] = [];
  readonly followUps: APIMessage[] = [];
  readonly edits: InteractionEditRecord[] = [];
  /** Ids of messages this interaction's token may edit/delete (original + follow-ups). */
  readonly messageIds = new Set<string>();
  response: InteractionCallbackRecord | undefined;
  originalMessageId: string | undefined;
  /** Type-5 placeholder not yet completed by an edit or the first follow-up. */
  loading = false;
  private readonly listeners = new Set<() => void>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly id: string,
    readonly token: string,
    readonly type: number,
    readonly payload: Json,
    readonly channelId: string,
    readonly user: APIUser,
    readonly createdAt: number,
    readonly deadline: number,
    readonly expiresAt: number,
    readonly origin: { commandName?: string; commandType?: number; messageId?: string },
  ) {
    this.timer = setTimeout(() => this.notify(), Math.max(0, deadline - Date.now()) + 1);
    this.timer.unref();
  }

  get acknowledged(): boolean {
    return this.response !== undefined;
  }

  notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves with check()'s first non-undefined value, re-checked on every change. */
  waitFor<T>(check: () => T | undefined, timeoutMs: number, describe: () => string): Promise<T> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      const listener = (): void => {
        let value: T | undefined;
        try {
          value = check();
        } catch (error) {
          cleanup();
          reject(error as Error);
          return;
        }
        if (value === undefined) return;
        cleanup();
        resolve(value);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(describe()));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      this.listeners.add(listener);
    });
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.listeners.clear();
  }
}

function makeHandle(record: InteractionRecord, state: FakeDiscordState): InteractionHandle {
  return {
    id: record.id,
    token: record.token,
    payload: record.payload,
    get response() {
      return record.response;
    },
    get attempts() {
      return record.attempts;
    },
    get followUps() {
      return record.followUps;
    },
    get edits() {
      return record.edits;
    },
    get acknowledged() {
      return record.acknowledged;
    },
    get ephemeral() {
      return record.response?.ephemeral;
    },
    original() {
      return record.originalMessageId ? state.messages.get(record.originalMessageId) : undefined;
    },
    waitForResponse() {
      return record.waitFor(
        () => {
          if (record.response) return record.response;
          if (Date.now() > record.deadline) {
            throw new Error(
              `fakeDiscord: interaction ${record.id} was not acknowledged within ${record.deadline - record.createdAt} ms` +
                (record.attempts.length
                  ? ` (rejected attempts: ${record.attempts.map((a) => `type ${a.type} → ${a.status}${a.errorCode ? `/${a.errorCode}` : ''}`).join(', ')})`
                  : ''),
            );
          }
          return undefined;
        },
        record.deadline - Date.now() + 1000,
        () => `fakeDiscord: interaction ${record.id} not acknowledged`,
      );
    },
    waitForFollowUp(predicate = () => true, timeoutMs = 2000) {
      return record.waitFor(
        () => record.followUps.find(predicate),
        timeoutMs,
        () => `fakeDiscord: no matching follow-up for interaction ${record.id} within ${timeoutMs} ms`,
      );
    },
    waitForEdit(predicate = () => true, timeoutMs = 2000) {
      return record.waitFor(
        () => record.edits.find(predicate),
        timeoutMs,
        () => `fakeDiscord: no matching edit for interaction ${record.id} within ${timeoutMs} ms`,
      );
    },
  };
}

function interactionToken(id: string): string {
  return `aW50ZXJhY3Rpb246${Buffer.from(`${id}:`).toString('base64url')}${randomBytes(48).toString('base64url')}`;
}

/** Depth-first search for a component by custom_id (action rows, containers, section accessories). */
function findComponent(components: unknown, customId: string): Json | undefined {
  if (!Array.isArray(components)) return undefined;
  for (const c of components) {
    if (typeof c !== 'object' || c === null) continue;
    const component = c as Json;
    if (component.custom_id === customId) return component;
    const nested = findComponent(component.components, customId) ?? findComponent(component.accessory ? [component.accessory] : [], customId);
    if (nested) return nested;
  }
  return undefined;
}

/** The guild an interaction comes from: the main one or another the bot is in. */
interface GuildView {
  id: string;
  locale: string;
  members: ReadonlyMap<string, { roles: string[] }>;
  commands: ReadonlyMap<string, APIApplicationCommand>;
  resolveRoleIds(idsOrNames: readonly string[]): string[];
  memberPayload(userId: string, roles?: string[]): APIGuildMember;
  permissionsOf(userId: string, roles?: string[]): bigint;
}

export interface RegistryOptions {
  responseTimeoutMs: number;
  tokenTtlMs: number;
}

export class InteractionRegistry {
  readonly byId = new Map<string, InteractionRecord>();
  readonly byToken = new Map<string, InteractionRecord>();
  readonly handles = new Map<string, InteractionHandle>();

  constructor(
    private readonly state: FakeDiscordState,
    private readonly options: RegistryOptions,
    private readonly send: (payload: Json) => void,
  ) {}

  all(): InteractionHandle[] {
    return [...this.handles.values()];
  }

  /** The guild a channel belongs to (the main guild for anything not in another guild). */
  private guildOf(channelId: string): GuildView {
    const state = this.state;
    const guildId = state.channels.get(channelId)?.guild_id;
    const other = guildId === undefined ? undefined : state.otherGuilds.get(guildId);
    if (other) {
      return {
        id: other.id,
        locale: other.preferredLocale,
        members: other.members,
        commands: other.commands,
        resolveRoleIds: (v) => other.resolveRoleIds(v),
        memberPayload: (u, r) => other.memberPayload(u, r),
        permissionsOf: (u, r) => other.permissionsOf(u, r),
      };
    }
    return {
      id: state.guildId,
      locale: state.guild.preferred_locale,
      members: state.members,
      commands: state.guildCommands,
      resolveRoleIds: (v) => state.resolveRoleIds(v),
      memberPayload: (u, r) => state.memberPayload(u, r),
      permissionsOf: (u, r) => state.permissionsOf(u, r),
    };
  }

  private actorMember(actor: InteractionActor, guild: GuildView): { member: Json; roles: string[]; user: APIUser } {
    if (!guild.members.has(actor.userId)) {
      throw new Error(`fakeDiscord: ${actor.userId} is not a member of guild ${guild.id}; add it with addMember() or addGuild({ members }) first`);
    }
    const roles = actor.roles ? guild.resolveRoleIds(actor.roles) : [...(guild.members.get(actor.userId)?.roles ?? [])];
    const member = guild.memberPayload(actor.userId, roles) as unknown as Json;
    member.permissions = guild.permissionsOf(actor.userId, roles).toString();
    return { member, roles, user: this.state.requireUser(actor.userId) };
  }

  private channelPayload(channelId: string, permissions: bigint): Json {
    const channel = this.state.channels.get(channelId);
    if (!channel || !TEXT_CHANNEL_TYPES.has(channel.type)) {
      throw new Error(`fakeDiscord: ${channelId} is not a text channel of the fake guild`);
    }
    return { ...channel, permissions: permissions.toString() };
  }

  private dispatch(
    type: number,
    actor: InteractionActor,
    channelId: string,
    data: Json,
    extra: Json,
    origin: InteractionRecord['origin'],
  ): InteractionHandle {
    const state = this.state;
    const guild = this.guildOf(channelId);
    const { member, roles, user } = this.actorMember(actor, guild);
    const id = snowflake();
    const token = interactionToken(id);
    const now = Date.now();
    const locale = actor.locale ?? 'en-US';
    const payload: Json = {
      app_permissions: guild.permissionsOf(state.botUser.id).toString(),
      application_id: state.applicationId,
      attachment_size_limit: 10_485_760,
      authorizing_integration_owners: { '0': guild.id },
      channel: this.channelPayload(channelId, guild.permissionsOf(actor.userId, roles)),
      channel_id: channelId,
      context: 0,
      data,
      entitlement_sku_ids: [],
      entitlements: [],
      guild: { features: [], id: guild.id, locale: guild.locale },
      guild_id: guild.id,
      guild_locale: guild.locale,
      id,
      locale,
      member,
      token,
      type,
      version: 1,
      ...extra,
    };
    const record = new InteractionRecord(
      id,
      token,
      type,
      payload,
      channelId,
      user,
      now,
      now + this.options.responseTimeoutMs,
      now + this.options.tokenTtlMs,
      origin,
    );
    this.byId.set(id, record);
    this.byToken.set(token, record);
    const handle = makeHandle(record, state);
    this.handles.set(id, handle);
    this.send(payload);
    return handle;
  }

  private componentMessage(input: ClickButtonInput): { message: APIMessage; component: Json; channelId: string } {
    const message = this.state.messages.get(input.messageId);
    if (!message) throw new Error(`fakeDiscord: unknown message ${input.messageId}`);
    const channelId = input.channelId ?? message.channel_id;
    if (channelId !== message.channel_id) throw new Error(`fakeDiscord: message ${message.id} is not in channel ${channelId}`);
    const component = findComponent(message.components, input.customId);
    if (!component) throw new Error(`fakeDiscord: message ${message.id} has no component with custom_id ${input.customId}`);
    if (component.disabled === true) throw new Error(`fakeDiscord: component ${input.customId} is disabled`);
    return { message, component, channelId };
  }

  clickButton(input: ClickButtonInput): InteractionHandle {
    const { message, component, channelId } = this.componentMessage(input);
    if (component.type !== 2 || component.style === 5 || component.style === 6) {
      throw new Error(`fakeDiscord: ${input.customId} is not an interactive button`);
    }
    const data: Json = { component_type: 2, custom_id: input.customId };
    if (typeof component.id === 'number') data.id = component.id;
    return this.dispatch(InteractionType.MessageComponent, input, channelId, data, { message }, { messageId: message.id });
  }

  selectMenu(input: SelectMenuInput): InteractionHandle {
    const { message, component, channelId } = this.componentMessage(input);
    const type = component.type;
    if (typeof type !== 'number' || ![3, 5, 6, 7, 8].includes(type)) {
      throw new Error(`fakeDiscord: ${input.customId} is not a select menu`);
    }
    const min = typeof component.min_values === 'number' ? component.min_values : 1;
    const max = typeof component.max_values === 'number' ? component.max_values : 1;
    if (input.values.length < min || input.values.length > max) {
      throw new Error(`fakeDiscord: select ${input.customId} takes ${min}..${max} values`);
    }
    if (type === 3) {
      const allowed = Array.isArray(component.options) ? component.options.map((o) => (o as Json).value) : [];
      for (const value of input.values) {
        if (!allowed.includes(value)) throw new Error(`fakeDiscord: ${value} is not an option of ${input.customId}`);
      }
    }
    const data: Json = { component_type: type, custom_id: input.customId, values: input.values };
    if (typeof component.id === 'number') data.id = component.id;
    if (type !== 3) data.resolved = this.resolveMentionables(input.values, type);
    return this.dispatch(InteractionType.MessageComponent, input, channelId, data, { message }, { messageId: message.id });
  }

  private resolveMentionables(ids: string[], type: number): Json {
    const resolved: Json = {};
    const users: Json = {};
    const members: Json = {};
    const roles: Json = {};
    const channels: Json = {};
    for (const id of ids) {
      if ((type === 5 || type === 7) && this.state.users.has(id)) {
        users[id] = this.state.users.get(id);
        if (this.state.members.has(id)) {
          const { user: _u, ...member } = this.state.memberPayload(id);
          members[id] = { ...member, permissions: this.state.permissionsOf(id).toString() };
        }
      } else if ((type === 6 || type === 7) && this.state.roles.has(id)) {
        roles[id] = this.state.roles.get(id);
      } else if (type === 8 && this.state.channels.has(id)) {
        channels[id] = this.resolvedChannel(id);
      } else {
        throw new Error(`fakeDiscord: cannot resolve ${id} for a select of type ${type}`);
      }
    }
    if (Object.keys(users).length) resolved.users = users;
    if (Object.keys(members).length) resolved.members = members;
    if (Object.keys(roles).length) resolved.roles = roles;
    if (Object.keys(channels).length) resolved.channels = channels;
    return resolved;
  }

  private resolvedChannel(id: string): Json {
    const c = this.state.requireChannel(id);
    const out: Json = { id: c.id, name: c.name, type: c.type, permissions: this.state.permissionsOf(this.state.botUser.id).toString(), flags: c.flags };
    if (c.parent_id !== undefined) out.parent_id = c.parent_id;
    if (c.thread_metadata) out.thread_metadata = c.thread_metadata;
    return out;
  }

  /** A command of `guildId` (the main guild by default) or a global one. */
  findCommand(name: string, type = 1, guildId: string = this.state.guildId): APIApplicationCommand | undefined {
    const guildCommands = guildId === this.state.guildId ? this.state.guildCommands : (this.state.otherGuilds.get(guildId)?.commands ?? new Map());
    for (const map of [guildCommands, this.state.globalCommands]) {
      for (const command of map.values()) if (command.name === name && (command.type ?? 1) === type) return command;
    }
    return undefined;
  }

  runSlashCommand(input: SlashCommandInput): InteractionHandle {
    const state = this.state;
    const channelId = input.channelId ?? state.firstTextChannel().id;
    // Guild commands exist only in the guild they were registered in; global ones everywhere.
    const guild = this.guildOf(channelId);
    const command = this.findCommand(input.name, 1, guild.id);
    if (!command && !input.allowUnregistered) {
      const known = [...guild.commands.values(), ...state.globalCommands.values()].map((c) => c.name);
      throw new Error(`fakeDiscord: no registered command /${input.name} in guild ${guild.id} (registered: ${known.join(', ') || 'none'})`);
    }
    const resolved: Record<string, Json> = {};
    let definitions = command?.options as Json[] | undefined;
    const wrap: Array<{ type: number; name: string }> = [];
    if (input.subcommandGroup !== undefined) {
      const group = definitions?.find((o) => o.name === input.subcommandGroup && o.type === 2);
      if (command && !group) throw new Error(`fakeDiscord: /${input.name} has no subcommand group ${input.subcommandGroup}`);
      definitions = group?.options as Json[] | undefined;
      wrap.push({ type: 2, name: input.subcommandGroup });
    }
    if (input.subcommand !== undefined) {
      const sub = definitions?.find((o) => o.name === input.subcommand && o.type === 1);
      if (command && !sub) throw new Error(`fakeDiscord: /${input.name} has no subcommand ${input.subcommand}`);
      definitions = sub?.options as Json[] | undefined;
      wrap.push({ type: 1, name: input.subcommand });
    } else if (command && definitions?.some((o) => o.type === 1 || o.type === 2)) {
      throw new Error(`fakeDiscord: /${input.name} needs a subcommand`);
    }
    let options: Json[] = this.buildOptions(command ? (definitions ?? []) : undefined, input.options ?? {}, resolved);
    for (const level of wrap.reverse()) options = [{ type: level.type, name: level.name, options }];

    const data: Json = { id: command?.id ?? snowflake(), name: input.name, type: 1 };
    if (options.length) data.options = options;
    if (Object.keys(resolved).length) data.resolved = resolved;
    if (command?.guild_id) data.guild_id = command.guild_id;
    return this.dispatch(InteractionType.ApplicationCommand, input, channelId, data, {}, { commandName: input.name, commandType: 1 });
  }

  private buildOptions(
    definitions: Json[] | undefined,
    values: Record<string, SlashOptionValue>,
    resolved: Record<string, Json>,
  ): Json[] {
    const out: Json[] = [];
    if (definitions) {
      for (const def of definitions) {
        if (def.required === true && !(String(def.name) in values)) {
          throw new Error(`fakeDiscord: required option ${String(def.name)} missing`);
        }
      }
    }
    for (const [name, value] of Object.entries(values)) {
      const def = definitions?.find((d) => d.name === name);
      if (definitions && !def) throw new Error(`fakeDiscord: unknown option ${name}`);
      const type =
        typeof def?.type === 'number'
          ? def.type
          : typeof value === 'boolean'
            ? 5
            : typeof value === 'number'
              ? Number.isInteger(value)
                ? 4
                : 10
              : 3;
      if (Array.isArray(def?.choices) && !def.choices.some((c) => (c as Json).value === value)) {
        throw new Error(`fakeDiscord: ${String(value)} is not a choice of option ${name}`);
      }
      out.push({ name, type, value: this.optionValue(type, name, value, resolved) });
    }
    return out;
  }

  private optionValue(type: number, name: string, value: SlashOptionValue, resolved: Record<string, Json>): SlashOptionValue {
    const state = this.state;
    const add = (kind: string, id: string, entry: unknown): void => {
      (resolved[kind] ??= {})[id] = entry;
    };
    switch (type) {
      case 3:
        return String(value);
      case 4:
        if (typeof value !== 'number' || !Number.isInteger(value)) throw new Error(`fakeDiscord: option ${name} takes an integer`);
        return value;
      case 10:
        if (typeof value !== 'number') throw new Error(`fakeDiscord: option ${name} takes a number`);
        return value;
      case 5:
        if (typeof value !== 'boolean') throw new Error(`fakeDiscord: option ${name} takes a boolean`);
        return value;
      case 6:
      case 9: {
        const id = String(value);
        if (state.users.has(id)) {
          add('users', id, state.users.get(id));
          if (state.members.has(id)) {
            const { user: _u, ...member } = state.memberPayload(id);
            add('members', id, { ...member, permissions: state.permissionsOf(id).toString() });
          }
          return id;
        }
        if (type === 9 && state.roles.has(id)) {
          add('roles', id, state.roles.get(id));
          return id;
        }
        throw new Error(`fakeDiscord: option ${name}: unknown user ${id}`);
      }
      case 7: {
        const id = String(value);
        add('channels', id, this.resolvedChannel(id));
        return id;
      }
      case 8: {
        const id = state.resolveRoleIds([String(value)])[0] ?? String(value);
        add('roles', id, state.roles.get(id));
        return id;
      }
      default:
        throw new Error(`fakeDiscord: option ${name} of type ${type} is not supported by runSlashCommand`);
    }
  }

  /** Finds the accepted modal response (type 9) with this custom_id, newest first. */
  private findModal(customId: string): { record: InteractionRecord; modal: Json } | undefined {
    const records = [...this.byId.values()].reverse();
    for (const record of records) {
      const modal = record.response?.type === 9 ? record.response.data : undefined;
      if (modal && modal.custom_id === customId) return { record, modal };
    }
    return undefined;
  }

  submitModal(input: ModalSubmitInput): InteractionHandle {
    const found = this.findModal(input.customId);
    if (!found) throw new Error(`fakeDiscord: no modal with custom_id ${input.customId} was shown`);
    if (found.record.user.id !== input.userId) throw new Error(`fakeDiscord: modal ${input.customId} was shown to another user`);
    const submitted = new Set<string>();
    const echo = (component: Json): Json | undefined => {
      if (component.type === 4 && typeof component.custom_id === 'string') {
        const value = input.fields[component.custom_id] ?? '';
        if (component.required !== false && value === '') throw new Error(`fakeDiscord: text input ${component.custom_id} is required`);
        submitted.add(component.custom_id);
        return { type: 4, id: component.id, custom_id: component.custom_id, value };
      }
      return undefined;
    };
    const rows = Array.isArray(found.modal.components) ? (found.modal.components as Json[]) : [];
    let nextId = 1;
    const components = rows.map((row) => {
      const id = typeof row.id === 'number' ? row.id : nextId++;
      if (row.type === 18 && typeof row.component === 'object' && row.component !== null) {
        return { type: 18, id, component: echo(row.component as Json) };
      }
      const children = Array.isArray(row.components) ? (row.components as Json[]) : [];
      return { type: 1, id, components: children.map(echo).filter((c): c is Json => c !== undefined) };
    });
    for (const key of Object.keys(input.fields)) {
      if (!submitted.has(key)) throw new Error(`fakeDiscord: modal ${input.customId} has no text input ${key}`);
    }
    const channelId = input.channelId ?? found.record.channelId;
    const extra: Json = {};
    const messageId = found.record.origin.messageId;
    if (messageId) {
      const message = this.state.messages.get(messageId);
      if (message) extra.message = message;
    }
    return this.dispatch(
      InteractionType.ModalSubmit,
      input,
      channelId,
      { custom_id: input.customId, components },
      extra,
      { messageId },
    );
  }

  close(): void {
    for (const record of this.byId.values()) record.dispose();
  }
}
