/** Application command registration, global and guild scoped. */
import { type FakeContext, type Json, asObject, param } from '../context.js';
import { ApiError, ErrorCollector, errors } from '../errors.js';
import { LIMITS, collectCommandErrors } from '../limits.js';
import { snowflake } from '../snowflake.js';
import type { APIApplicationCommand } from '../types.js';

export function registerCommandRoutes(ctx: FakeContext): void {
  const { router, state } = ctx;

  const app = (params: Record<string, string>): void => {
    if (param(params, 'application_id') !== state.applicationId) {
      throw new ApiError(403, { message: 'You are not authorized to perform this action on this application', code: 20012 });
    }
  };

  const build = (body: Json, guildId: string | undefined, previous?: APIApplicationCommand): APIApplicationCommand => {
    const type = typeof body.type === 'number' ? body.type : 1;
    const command: Json = {
      id: previous?.id ?? snowflake(),
      application_id: state.applicationId,
      version: snowflake(),
      default_member_permissions:
        typeof body.default_member_permissions === 'string' ? body.default_member_permissions : null,
      type,
      name: body.name,
      name_localizations: body.name_localizations ?? null,
      description: type === 1 ? body.description : '',
      description_localizations: body.description_localizations ?? null,
      nsfw: body.nsfw === true,
      integration_types: Array.isArray(body.integration_types) ? body.integration_types : [0],
      contexts: Array.isArray(body.contexts) ? body.contexts : null,
    };
    if (Array.isArray(body.options) && body.options.length) command.options = body.options;
    if (guildId) command.guild_id = guildId;
    else command.dm_permission = body.dm_permission !== false;
    return command as unknown as APIApplicationCommand;
  };

  const validateOne = (body: unknown): void => {
    const c = new ErrorCollector();
    collectCommandErrors(c, [], body);
    c.throwIfAny();
  };

  const scope = (guildId: string | undefined): Map<string, APIApplicationCommand> => {
    if (guildId === undefined) return state.globalCommands;
    const other = state.otherGuilds.get(guildId);
    if (other) return other.commands;
    state.requireGuild(guildId);
    return state.guildCommands;
  };

  const sameCommand = (a: APIApplicationCommand, body: Json): boolean =>
    a.name === body.name && (a.type ?? 1) === (typeof body.type === 'number' ? body.type : 1);

  const register = (prefix: string, guildOf: (params: Record<string, string>) => string | undefined): void => {
    router.add('GET', prefix, ({ params }) => {
      app(params);
      return { status: 200, body: [...scope(guildOf(params)).values()] };
    });

    // Bulk overwrite: commands matched by name and type keep their ids.
    router.add('PUT', prefix, ({ params, body }) => {
      app(params);
      const guildId = guildOf(params);
      const map = scope(guildId);
      if (!Array.isArray(body)) {
        const c = new ErrorCollector();
        c.add([], 'BASE_TYPE_LIST', 'Must be a list.');
        c.throwIfAny();
      }
      const list = body as unknown[];
      const c = new ErrorCollector();
      if (list.length > LIMITS.commandsPerScope) c.maxLength([], LIMITS.commandsPerScope);
      list.forEach((command, i) => collectCommandErrors(c, [i], command));
      const seen = new Set<string>();
      list.forEach((command, i) => {
        const b = asObject(command);
        const key = `${String(b.type ?? 1)}:${String(b.name)}`;
        if (seen.has(key)) c.add([i, 'name'], 'APPLICATION_COMMAND_ALREADY_EXISTS', 'Application command with that name already exists');
        seen.add(key);
      });
      c.throwIfAny();
      const previous = [...map.values()];
      map.clear();
      const result = list.map((command) => {
        const b = asObject(command);
        const built = build(b, guildId, previous.find((p) => sameCommand(p, b)));
        map.set(built.id, built);
        return built;
      });
      return { status: 200, body: result };
    });

    // Create (or overwrite by name): 201 when new, 200 when it existed.
    router.add('POST', prefix, ({ params, body }) => {
      app(params);
      const guildId = guildOf(params);
      const map = scope(guildId);
      validateOne(body);
      const b = asObject(body);
      const existing = [...map.values()].find((p) => sameCommand(p, b));
      const built = build(b, guildId, existing);
      map.set(built.id, built);
      return { status: existing ? 200 : 201, body: built };
    });

    router.add('GET', `${prefix}/:command_id`, ({ params }) => {
      app(params);
      const command = scope(guildOf(params)).get(param(params, 'command_id'));
      if (!command) throw errors.unknownCommand();
      return { status: 200, body: command };
    });

    router.add('PATCH', `${prefix}/:command_id`, ({ params, body }) => {
      app(params);
      const guildId = guildOf(params);
      const map = scope(guildId);
      const command = map.get(param(params, 'command_id'));
      if (!command) throw errors.unknownCommand();
      const merged = { ...(command as unknown as Json), ...asObject(body) };
      validateOne(merged);
      const built = build(merged, guildId, command);
      map.set(built.id, built);
      return { status: 200, body: built };
    });

    router.add('DELETE', `${prefix}/:command_id`, ({ params }) => {
      app(params);
      const map = scope(guildOf(params));
      if (!map.delete(param(params, 'command_id'))) throw errors.unknownCommand();
      return { status: 204 };
    });
  };

  register('/applications/:application_id/commands', () => undefined);
  register('/applications/:application_id/guilds/:guild_id/commands', (params) => param(params, 'guild_id'));

  router.add('GET', '/applications/:application_id/guilds/:guild_id/commands/permissions', ({ params }) => {
    app(params);
    const guildId = param(params, 'guild_id');
    if (!state.otherGuilds.has(guildId)) state.requireGuild(guildId);
    return { status: 200, body: [] };
  });
}
