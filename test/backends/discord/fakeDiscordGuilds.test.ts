/**
 * Self-test of the fake Discord's other guilds (addGuild) with the real discord.js Client: the bot
 * learns of the guild as from Discord (GUILD_CREATE when added, READY after a reconnect), and an
 * interaction from it carries that guild's id, channel, member and permissions; guild commands
 * exist only where they were registered.
 */
import { Client, Events, GatewayIntentBits, type Interaction, REST, Routes, SlashCommandBuilder } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../support/aws.js';
import { type FakeDiscord, startFakeDiscord } from '../../support/fakeDiscord/index.js';

const open: { fake: FakeDiscord; client: Client }[] = [];

async function connect() {
  const fake = await startFakeDiscord();
  const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: fake.apiUrl } });
  open.push({ fake, client });
  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  await client.login(fake.token);
  await ready;
  return { fake, client };
}

afterEach(async () => {
  for (const { client, fake } of open.splice(0)) {
    await client.destroy();
    await fake.close();
  }
});

const command = new SlashCommandBuilder().setName('status').setDescription('Shows the status').toJSON();

describe('fake Discord: another guild', () => {
  it('is announced to a connected bot with GUILD_CREATE: its channels and roles, not the main guild’s', async () => {
    const { fake, client } = await connect();
    const alice = fake.member('alice').user.id;
    const other = fake.addGuild({ name: 'Elsewhere', roles: [{ name: 'Responder' }], members: [{ id: alice, username: 'alice', roles: ['Responder'] }] });
    const guild = await waitFor(async () => client.guilds.cache.get(other.id), { what: 'the other guild in the cache' });
    expect(guild.name).toBe('Elsewhere');
    expect(other.id).not.toBe(fake.guildId);
    expect(client.channels.cache.get(other.channel('general').id)?.isTextBased()).toBe(true);
    expect((client.channels.cache.get(other.channel('general').id) as { guildId?: string }).guildId).toBe(other.id);
    // Role ids are the other guild's own (the @everyone role shares the guild's id).
    expect(guild.roles.cache.has(other.id)).toBe(true);
    expect(other.role('Responder').id).not.toBe(fake.role('Responder').id);
    // A channel name that exists in both guilds still resolves per guild.
    expect(other.channel('general').id).not.toBe(fake.channel('general').id);
  });

  it('is in READY and sent again with GUILD_CREATE after a new session', async () => {
    const fake = await startFakeDiscord();
    const other = fake.addGuild({ name: 'Elsewhere' });
    const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: fake.apiUrl } });
    open.push({ fake, client });
    const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
    await client.login(fake.token);
    await ready;
    const readyFrame = fake.gateway.frames.find((f) => f.t === 'READY');
    expect((readyFrame?.d as { guilds: { id: string }[] }).guilds.map((g) => g.id).sort()).toEqual([fake.guildId, other.id].sort());
    expect(client.guilds.cache.has(other.id)).toBe(true);
  });

  it('sends interactions from its channels with its guild_id, member roles and permissions', async () => {
    const { fake, client } = await connect();
    const alice = fake.member('alice').user.id;
    const other = fake.addGuild({ roles: [{ name: 'Responder' }], members: [{ id: alice, username: 'alice', roles: ['Responder'] }] });
    await waitFor(async () => client.guilds.cache.get(other.id), { what: 'the other guild' });
    const rest = new REST({ api: fake.apiUrl }).setToken(fake.token);
    await rest.put(Routes.applicationGuildCommands(fake.applicationId, other.id), { body: [command] });
    expect(other.commands().map((c) => c.name)).toEqual(['status']);
    expect(fake.commands('guild')).toEqual([]);

    const seen = new Promise<Interaction>((resolve) => client.once(Events.InteractionCreate, resolve));
    const handle = fake.runSlashCommand({ userId: alice, name: 'status', channelId: other.channel('general').id });
    const interaction = await seen;
    expect(interaction.guildId).toBe(other.id);
    expect(interaction.channelId).toBe(other.channel('general').id);
    expect(interaction.user.id).toBe(alice);
    const member = interaction.member as { roles: { cache: Map<string, unknown> } };
    expect([...member.roles.cache.keys()]).toContain(other.role('Responder').id);
    expect([...member.roles.cache.keys()]).not.toContain(fake.role('Responder').id);
    expect(handle.payload).toMatchObject({ guild_id: other.id, guild: { id: other.id }, authorizing_integration_owners: { '0': other.id } });
    expect((handle.payload.data as { guild_id?: string }).guild_id).toBe(other.id);
  });

  it('runs a guild command only in the guild it was registered in', async () => {
    const { fake } = await connect();
    const alice = fake.member('alice').user.id;
    const other = fake.addGuild({ members: [{ id: alice, username: 'alice' }] });
    const rest = new REST({ api: fake.apiUrl }).setToken(fake.token);
    await rest.put(Routes.applicationGuildCommands(fake.applicationId, fake.guildId), { body: [command] });
    expect(() => fake.runSlashCommand({ userId: alice, name: 'status', channelId: other.channel('general').id })).toThrow(/no registered command \/status in guild/);
    // A global command is everywhere.
    await rest.put(Routes.applicationCommands(fake.applicationId), { body: [command] });
    expect(fake.runSlashCommand({ userId: alice, name: 'status', channelId: other.channel('general').id }).payload.guild_id).toBe(other.id);
    // Someone who is not a member of that guild cannot use it.
    const bob = fake.member('bob').user.id;
    expect(() => fake.runSlashCommand({ userId: bob, name: 'status', channelId: other.channel('general').id })).toThrow(/not a member of guild/);
  });
});
