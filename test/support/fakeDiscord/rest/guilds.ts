/** The guild, its channels, roles and members. */
import { type FakeContext, asObject, param } from '../context.js';
import { ApiError, ErrorCollector } from '../errors.js';
import { charLength } from '../limits.js';
import { Permission } from '../state.js';

const missingPermissions = (): ApiError => new ApiError(403, { message: 'Missing Permissions', code: 50013 });

export function registerGuildRoutes(ctx: FakeContext): void {
  const { router, state, events } = ctx;

  const guild = (params: Record<string, string>): void => state.requireGuild(param(params, 'guild_id'));

  /** The bot may only manage roles below its own highest role, and needs MANAGE_ROLES. */
  const assertCanManageRole = (roleId: string): void => {
    const role = state.requireRole(roleId);
    const perms = state.permissionsOf(state.botUser.id);
    if (!(perms & Permission.ManageRoles) && !(perms & Permission.Administrator)) throw missingPermissions();
    if (role.managed || role.id === state.guildId || role.position >= state.highestRolePosition(state.botUser.id)) {
      throw missingPermissions();
    }
  };

  router.add('GET', '/guilds/:guild_id', ({ params, query }) => {
    guild(params);
    return { status: 200, body: state.guildPayload(query.with_counts === 'true') };
  });

  router.add('GET', '/guilds/:guild_id/channels', ({ params }) => {
    guild(params);
    return { status: 200, body: state.guildChannels() };
  });

  router.add('POST', '/guilds/:guild_id/channels', ({ params, body }) => {
    guild(params);
    const payload = asObject(body);
    const c = new ErrorCollector();
    if (typeof payload.name !== 'string' || payload.name.length === 0) c.required(['name']);
    else if (charLength(payload.name) > 100) c.badLength(['name'], 1, 100);
    c.throwIfAny();
    const channel = state.createChannel({
      name: String(payload.name),
      type: typeof payload.type === 'number' ? payload.type : 0,
      topic: typeof payload.topic === 'string' ? payload.topic : null,
      parent: typeof payload.parent_id === 'string' ? payload.parent_id : undefined,
    });
    events.channelCreate(channel);
    return { status: 201, body: channel };
  });

  router.add('GET', '/guilds/:guild_id/threads/active', ({ params }) => {
    guild(params);
    return { status: 200, body: { threads: state.activeThreads(), members: [] } };
  });

  // ---- roles ----

  router.add('GET', '/guilds/:guild_id/roles', ({ params }) => {
    guild(params);
    return { status: 200, body: [...state.roles.values()].sort((a, b) => a.position - b.position) };
  });

  router.add('GET', '/guilds/:guild_id/roles/:role_id', ({ params }) => {
    guild(params);
    return { status: 200, body: state.requireRole(param(params, 'role_id')) };
  });

  router.add('POST', '/guilds/:guild_id/roles', ({ params, body }) => {
    guild(params);
    const payload = asObject(body);
    const perms = state.permissionsOf(state.botUser.id);
    if (!(perms & Permission.ManageRoles)) throw missingPermissions();
    const role = state.createRole({
      name: typeof payload.name === 'string' ? payload.name : 'new role',
      permissions: typeof payload.permissions === 'string' ? payload.permissions : (state.roles.get(state.guildId)?.permissions ?? '0'),
      color: typeof payload.color === 'number' ? payload.color : 0,
      hoist: payload.hoist === true,
      mentionable: payload.mentionable === true,
    });
    events.roleCreate(role);
    return { status: 200, body: role };
  });

  router.add('PATCH', '/guilds/:guild_id/roles/:role_id', ({ params, body }) => {
    guild(params);
    const roleId = param(params, 'role_id');
    assertCanManageRole(roleId);
    const role = state.requireRole(roleId);
    const payload = asObject(body);
    if (typeof payload.name === 'string') role.name = payload.name;
    if (typeof payload.permissions === 'string') role.permissions = payload.permissions;
    if (typeof payload.color === 'number') role.color = payload.color;
    if (typeof payload.hoist === 'boolean') role.hoist = payload.hoist;
    if (typeof payload.mentionable === 'boolean') role.mentionable = payload.mentionable;
    events.roleUpdate(role);
    return { status: 200, body: role };
  });

  router.add('DELETE', '/guilds/:guild_id/roles/:role_id', ({ params }) => {
    guild(params);
    const roleId = param(params, 'role_id');
    assertCanManageRole(roleId);
    state.roles.delete(roleId);
    for (const member of state.members.values()) member.roles = member.roles.filter((id) => id !== roleId);
    events.roleDelete(roleId);
    return { status: 204 };
  });

  // ---- members ----

  router.add('GET', '/guilds/:guild_id/members', ({ params, query }) => {
    guild(params);
    const limit = Math.min(1000, Math.max(1, Number(query.limit ?? 1) || 1));
    const after = BigInt(query.after ?? '0');
    const ids = [...state.members.keys()]
      .filter((id) => BigInt(id) > after)
      .sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1))
      .slice(0, limit);
    return { status: 200, body: ids.map((id) => state.memberPayload(id)) };
  });

  router.add('GET', '/guilds/:guild_id/members/search', ({ params, query }) => {
    guild(params);
    if (typeof query.query !== 'string') {
      const c = new ErrorCollector();
      c.required(['query']);
      c.throwIfAny();
    }
    const q = (query.query ?? '').toLowerCase();
    const limit = Math.min(1000, Math.max(1, Number(query.limit ?? 1) || 1));
    const ids = [...state.members.keys()].filter((id) => {
      const user = state.users.get(id);
      const nick = state.members.get(id)?.nick;
      return [user?.username, user?.global_name, nick].some((n) => typeof n === 'string' && n.toLowerCase().startsWith(q));
    });
    return { status: 200, body: ids.slice(0, limit).map((id) => state.memberPayload(id)) };
  });

  router.add('GET', '/guilds/:guild_id/members/:user_id', ({ params }) => {
    guild(params);
    return { status: 200, body: state.memberPayload(param(params, 'user_id')) };
  });

  router.add('PATCH', '/guilds/:guild_id/members/:user_id', ({ params, body }) => {
    guild(params);
    const userId = param(params, 'user_id');
    const member = state.requireMember(userId);
    const payload = asObject(body);
    if (Array.isArray(payload.roles)) {
      const wanted = payload.roles.map(String);
      const added = wanted.filter((id) => !member.roles.includes(id));
      const removed = member.roles.filter((id) => !wanted.includes(id));
      for (const id of [...added, ...removed]) assertCanManageRole(id);
      member.roles = wanted;
    }
    if ('nick' in payload) member.nick = typeof payload.nick === 'string' && payload.nick.length ? payload.nick : null;
    events.memberUpdate(userId);
    return { status: 200, body: state.memberPayload(userId) };
  });

  router.add('PUT', '/guilds/:guild_id/members/:user_id/roles/:role_id', ({ params }) => {
    guild(params);
    const userId = param(params, 'user_id');
    const roleId = param(params, 'role_id');
    const member = state.requireMember(userId);
    assertCanManageRole(roleId);
    if (!member.roles.includes(roleId)) {
      member.roles.push(roleId);
      events.memberUpdate(userId);
    }
    return { status: 204 };
  });

  router.add('DELETE', '/guilds/:guild_id/members/:user_id/roles/:role_id', ({ params }) => {
    guild(params);
    const userId = param(params, 'user_id');
    const roleId = param(params, 'role_id');
    const member = state.requireMember(userId);
    assertCanManageRole(roleId);
    if (member.roles.includes(roleId)) {
      member.roles = member.roles.filter((id) => id !== roleId);
      events.memberUpdate(userId);
    }
    return { status: 204 };
  });

  router.add('DELETE', '/guilds/:guild_id/members/:user_id', ({ params }) => {
    guild(params);
    const userId = param(params, 'user_id');
    state.requireMember(userId);
    const perms = state.permissionsOf(state.botUser.id);
    if (!(perms & Permission.KickMembers) || userId === state.guild.owner_id) throw missingPermissions();
    state.members.delete(userId);
    events.memberRemove(userId, state.users.get(userId));
    return { status: 204 };
  });
}
