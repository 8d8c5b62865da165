/**
 * The bot's discord.js caches against the fake Discord: what sentinel needs stays (the guild, its
 * channels and roles, its own user and member, the threads it opens), what it does not use is not
 * kept (the messages it posts).
 */
import { ChannelType, Client, Events, GatewayIntentBits } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discordCacheOptions } from '../../src/bot/discordClientOptions.js';
import { createDiscordPort } from '../../src/bot/discordPort.js';
import { type FakeDiscord, startFakeDiscord } from '../support/fakeDiscord/index.js';

let fake: FakeDiscord;
let client: Client;

beforeAll(async () => {
  fake = await startFakeDiscord({ members: [{ username: 'alice', roles: ['Responder'] }] });
  client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: fake.apiUrl }, ...discordCacheOptions() });
  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  await client.login(fake.token);
  await ready;
});

afterAll(async () => {
  await client?.destroy();
  await fake?.close();
});

describe('discordCacheOptions', () => {
  it('keeps the guild, channels, roles and the bot itself; posts, edits and threads work without a message cache', async () => {
    const guild = client.guilds.cache.get(fake.guildId);
    expect(guild).toBeDefined();
    expect(guild!.roles.cache.has(fake.role('Responder').id)).toBe(true);
    const channelId = fake.channel('alerts').id;
    expect(client.channels.cache.get(channelId)?.type).toBe(ChannelType.GuildText);
    expect(client.users.cache.has(client.user!.id)).toBe(true);

    const port = createDiscordPort(client);
    const posted = await port.post(channelId, { content: 'first' });
    await port.post(channelId, { content: 'second' });
    await port.edit(channelId, posted.messageId, { content: 'first, edited' });
    const channel = client.channels.cache.get(channelId);
    if (!channel || channel.type !== ChannelType.GuildText) throw new Error('alerts is not a cached text channel');
    expect(channel.messages.cache.size).toBe(0);
    // A thread is found again by its message, from the thread cache, without the message cache.
    const thread = await port.thread(channelId, posted.messageId, 'inc-1 rule');
    expect(await port.thread(channelId, posted.messageId, 'inc-1 rule')).toBe(thread);
    expect(client.channels.cache.get(thread)?.isThread()).toBe(true);
    expect((await port.fetchEmbeds(channelId, posted.messageId)).length).toBe(0);
  });
});
