/**
 * Self-test of the fake Discord server with the real discord.js Client: login/READY, messages,
 * components, interactions, limits, rate limits, server errors, threads, files, resume.
 */
import {
  ActionRowBuilder,
  ButtonBuilder,
  ButtonStyle,
  ChannelType,
  Client,
  DiscordAPIError,
  EmbedBuilder,
  Events,
  GatewayIntentBits,
  GuildMember,
  HTTPError,
  type Interaction,
  MessageFlags,
  ModalBuilder,
  REST,
  Routes,
  SlashCommandBuilder,
  TextInputBuilder,
  TextInputStyle,
  type TextChannel,
} from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeDiscord, type FakeDiscordOptions, startFakeDiscord } from '../../support/fakeDiscord/index.js';

interface Harness {
  fake: FakeDiscord;
  client: Client;
}

const open: Harness[] = [];

async function connect(options: FakeDiscordOptions = {}, intents: GatewayIntentBits[] = [GatewayIntentBits.Guilds]): Promise<Harness> {
  const fake = await startFakeDiscord(options);
  const client = new Client({ intents, rest: { api: fake.apiUrl } });
  const harness = { fake, client };
  open.push(harness);
  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  await client.login(fake.token);
  await ready;
  return harness;
}

afterEach(async () => {
  for (const { client, fake } of open.splice(0)) {
    await client.destroy();
    await fake.close();
  }
});

async function alertsChannel({ client, fake }: Harness): Promise<TextChannel> {
  const channel = client.channels.cache.get(fake.channel('alerts').id);
  if (!channel || channel.type !== ChannelType.GuildText) throw new Error('alerts channel not cached');
  return channel;
}

/** Runs `handler` for the next interaction and resolves with its result (or rejects with its error). */
function nextInteraction<T>(client: Client, handler: (interaction: Interaction) => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    client.once(Events.InteractionCreate, (interaction) => {
      handler(interaction).then(resolve, reject);
    });
  });
}

async function expectApiError(promise: Promise<unknown>): Promise<DiscordAPIError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DiscordAPIError);
  return error as DiscordAPIError;
}

describe('fake Discord with the real discord.js Client', () => {
  it('logs in: GET /gateway/bot, HELLO, IDENTIFY, READY, GUILD_CREATE cache the guild, channels and roles', async () => {
    const h = await connect();
    const { fake, client } = h;

    const gatewayCall = fake.lastCall({ method: 'GET', path: '/gateway/bot' });
    expect(gatewayCall).toMatchObject({ status: 200, version: 10, route: '/gateway/bot' });
    expect(gatewayCall?.headers.authorization).toBe(`Bot ${fake.token}`);

    expect(fake.gateway.identifies).toHaveLength(1);
    expect(fake.gateway.identifies[0]).toMatchObject({ token: fake.token, intents: GatewayIntentBits.Guilds, shard: [0, 1] });
    const ready = fake.gateway.frames.find((f) => f.t === 'READY');
    expect(ready?.d).toMatchObject({ v: 10, user: { id: fake.botUser.id, bot: true }, guilds: [{ id: fake.guildId, unavailable: true }] });

    expect(client.user?.id).toBe(fake.botUser.id);
    expect(client.application?.id).toBe(fake.applicationId);
    const guild = client.guilds.cache.get(fake.guildId);
    expect(guild?.available).toBe(true);
    expect(guild?.channels.cache.get(fake.channel('alerts').id)?.name).toBe('alerts');
    expect(guild?.roles.cache.get(fake.role('Responder').id)?.name).toBe('Responder');
    expect(guild?.roles.everyone.id).toBe(fake.guildId);
    // Without GUILD_MEMBERS only the bot's own member comes with GUILD_CREATE.
    expect([...(guild?.members.cache.keys() ?? [])]).toEqual([fake.botUser.id]);
  });

  it('rejects a wrong token: REST 401, and discord.js reports TokenInvalid', async () => {
    const fake = await startFakeDiscord();
    const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: fake.apiUrl } });
    open.push({ fake, client });
    await expect(client.login('not-the-token')).rejects.toThrow(/invalid token/i);
    expect(fake.lastCall({ path: '/gateway/bot' })?.status).toBe(401);
  });

  it('records a message with an embed and a row of buttons in Discord’s shape, and a click arrives as a button interaction with the member’s roles', async () => {
    const h = await connect();
    const { fake, client } = h;
    const channel = await alertsChannel(h);
    const embed = new EmbedBuilder()
      .setTitle('GuardDuty: CryptoCurrency:EC2/BitcoinTool.B')
      .setDescription('i-0abc on prod')
      .addFields({ name: 'Severity', value: 'HIGH', inline: true })
      .setFooter({ text: 'sentinel' })
      .setTimestamp(new Date('2024-05-01T12:00:00Z'));
    const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
      new ButtonBuilder().setCustomId('contain:i-0abc').setLabel('Contain').setStyle(ButtonStyle.Danger),
      new ButtonBuilder().setCustomId('dismiss:i-0abc').setLabel('Dismiss').setStyle(ButtonStyle.Secondary),
    );
    const sent = await channel.send({ content: 'New finding', embeds: [embed], components: [row] });

    const call = fake.lastCall({ method: 'POST', path: `/channels/${channel.id}/messages` });
    expect(call?.status).toBe(200);
    expect(call?.route).toBe('/channels/:channel_id/messages');
    expect(call?.body).toMatchObject({
      content: 'New finding',
      embeds: [{ title: 'GuardDuty: CryptoCurrency:EC2/BitcoinTool.B', fields: [{ name: 'Severity', value: 'HIGH', inline: true }] }],
      components: [{ type: 1, components: [{ type: 2, custom_id: 'contain:i-0abc', style: 4 }, { custom_id: 'dismiss:i-0abc' }] }],
    });
    expect(call?.response).toMatchObject({
      id: sent.id,
      channel_id: channel.id,
      type: 0,
      author: { id: fake.botUser.id, bot: true },
      embeds: [{ type: 'rich', timestamp: '2024-05-01T12:00:00.000000+00:00' }],
      edited_timestamp: null,
      pinned: false,
      tts: false,
    });
    expect(sent.embeds[0]?.title).toBe('GuardDuty: CryptoCurrency:EC2/BitcoinTool.B');
    expect(sent.createdTimestamp).toBeGreaterThan(Date.now() - 60_000);

    const alice = fake.member('alice');
    const responder = fake.role('Responder');
    const seen = nextInteraction(client, async (interaction) => {
      if (!interaction.isButton()) throw new Error('not a button');
      const member = interaction.member;
      if (!(member instanceof GuildMember)) throw new Error('member not resolved');
      await interaction.reply({ content: 'Containment requested', flags: MessageFlags.Ephemeral });
      await interaction.message.edit({ content: 'New finding (containment requested)', components: [] });
      return {
        customId: interaction.customId,
        roles: [...member.roles.cache.keys()],
        userId: interaction.user.id,
        messageId: interaction.message.id,
        channelId: interaction.channelId,
      };
    });
    const handle = fake.clickButton({ userId: alice.user.id, messageId: sent.id, customId: 'contain:i-0abc' });
    const result = await seen;
    expect(result).toMatchObject({ customId: 'contain:i-0abc', userId: alice.user.id, messageId: sent.id, channelId: channel.id });
    expect(result.roles).toContain(responder.id);
    expect(result.roles).toContain(fake.guildId); // @everyone

    const response = await handle.waitForResponse();
    expect(response).toMatchObject({ type: 4, ephemeral: true, data: { content: 'Containment requested', flags: 64 } });
    expect(handle.original()).toMatchObject({ type: 19, flags: 64, content: 'Containment requested', webhook_id: fake.applicationId });
    // The ephemeral reply is not visible through the channel.
    expect(fake.messages(channel.id).filter((m) => ((m.flags ?? 0) & 64) === 0).map((m) => m.id)).toEqual([sent.id]);

    const edit = await fake.waitForCall({ method: 'PATCH', path: `/channels/${channel.id}/messages/${sent.id}` });
    expect(edit.status).toBe(200);
    expect(fake.message(sent.id)).toMatchObject({ content: 'New finding (containment requested)', components: [] });
    expect(fake.message(sent.id)?.edited_timestamp).toEqual(expect.any(String));
  });

  it('answers UPDATE_MESSAGE (interaction.update) by editing the clicked message', async () => {
    const h = await connect();
    const { fake, client } = h;
    const channel = await alertsChannel(h);
    const sent = await channel.send({
      content: 'Approve?',
      components: [{ type: 1, components: [{ type: 2, style: 3, custom_id: 'approve', label: 'Approve' }] }],
    });
    const done = nextInteraction(client, async (interaction) => {
      if (!interaction.isButton()) throw new Error('not a button');
      await interaction.update({ content: 'Approved by <@' + interaction.user.id + '>', components: [] });
    });
    const bob = fake.member('bob');
    const handle = fake.clickButton({ userId: bob.user.id, roles: ['Approver'], messageId: sent.id, customId: 'approve' });
    expect((handle.payload.member as { roles: string[] }).roles).toEqual([fake.role('Approver').id]);
    await done;
    expect((await handle.waitForResponse()).type).toBe(7);
    expect(fake.message(sent.id)).toMatchObject({ content: `Approved by <@${bob.user.id}>`, components: [] });
    expect(fake.message(sent.id)?.mentions.map((u) => u.id)).toEqual([bob.user.id]);
    expect(handle.original()?.id).toBe(sent.id);
  });

  it('delivers a string select with its values; refuses values that are not options', async () => {
    const h = await connect();
    const { fake, client } = h;
    const channel = await alertsChannel(h);
    const sent = await channel.send({
      content: 'Severity?',
      components: [
        {
          type: 1,
          components: [
            {
              type: 3,
              custom_id: 'severity',
              options: [
                { label: 'Low', value: 'low' },
                { label: 'High', value: 'high' },
              ],
            },
          ],
        },
      ],
    });
    const alice = fake.member('alice').user.id;
    expect(() => fake.selectMenu({ userId: alice, messageId: sent.id, customId: 'severity', values: ['critical'] })).toThrow(
      /not an option/,
    );
    const picked = nextInteraction(client, async (interaction) => {
      if (!interaction.isStringSelectMenu()) throw new Error('not a string select');
      await interaction.deferUpdate();
      return interaction.values;
    });
    fake.selectMenu({ userId: alice, messageId: sent.id, customId: 'severity', values: ['high'] });
    expect(await picked).toEqual(['high']);
  });

  it('refuses a click on a button that is not on the message', async () => {
    const h = await connect();
    const channel = await alertsChannel(h);
    const sent = await channel.send({ content: 'no buttons' });
    expect(() => h.fake.clickButton({ userId: h.fake.member('alice').user.id, messageId: sent.id, customId: 'nope' })).toThrow(
      /no component with custom_id nope/,
    );
  });

  describe('limits answer 400 like Discord', () => {
    it('custom_id over 100 characters → 50035 BASE_TYPE_MAX_LENGTH at components.0.components.0.custom_id', async () => {
      const h = await connect();
      const channel = await alertsChannel(h);
      const button = (customId: string) => ({
        content: 'x',
        components: [{ type: 1, components: [{ type: 2, style: 1, label: 'Go', custom_id: customId }] }],
      });
      await expect(channel.send(button('a'.repeat(100)))).resolves.toBeDefined();
      const error = await expectApiError(channel.send(button('a'.repeat(101))));
      expect(error.code).toBe(50035);
      expect(error.status).toBe(400);
      expect(error.rawError).toEqual({
        code: 50035,
        message: 'Invalid Form Body',
        errors: {
          components: {
            0: { components: { 0: { custom_id: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 100 or fewer in length.' }] } } } },
          },
        },
      });
      expect(error.message).toContain('components[0].components[0].custom_id[BASE_TYPE_MAX_LENGTH]: Must be 100 or fewer in length.');
    });

    it('six buttons in a row, six rows, duplicate custom_ids', async () => {
      const h = await connect();
      const channel = await alertsChannel(h);
      const buttons = (n: number, prefix: string) =>
        Array.from({ length: n }, (_, i) => ({ type: 2, style: 2, label: `b${i}`, custom_id: `${prefix}${i}` }));
      const six = await expectApiError(channel.send({ content: 'x', components: [{ type: 1, components: buttons(6, 'b') }] }));
      expect(six.rawError).toMatchObject({
        errors: { components: { 0: { components: { _errors: [{ code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 5 in length.' }] } } } },
      });
      const rows = Array.from({ length: 6 }, (_, r) => ({ type: 1, components: buttons(1, `r${r}-`) }));
      const sixRows = await expectApiError(channel.send({ content: 'x', components: rows }));
      expect(sixRows.rawError).toMatchObject({
        errors: { components: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 5 or fewer in length.' }] } },
      });
      const dup = await expectApiError(
        channel.send({ content: 'x', components: [{ type: 1, components: [...buttons(1, 'same'), ...buttons(1, 'same')] }] }),
      );
      expect(dup.rawError).toMatchObject({
        errors: { components: { 0: { components: { 1: { custom_id: { _errors: [{ code: 'COMPONENT_CUSTOM_ID_DUPLICATED' }] } } } } } },
      });
    });

    it('content, embed title/description/fields/footer/author and the 6000-character total', async () => {
      const h = await connect();
      const channel = await alertsChannel(h);
      await expect(channel.send({ content: 'c'.repeat(2000) })).resolves.toBeDefined();
      const content = await expectApiError(channel.send({ content: 'c'.repeat(2001) }));
      expect(content.rawError).toMatchObject({
        errors: { content: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 2000 or fewer in length.' }] } },
      });

      const title = await expectApiError(channel.send({ embeds: [{ title: 't'.repeat(257) }] }));
      expect(title.code).toBe(50035);
      expect(title.rawError).toMatchObject({
        errors: { embeds: { 0: { title: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 256 or fewer in length.' }] } } } },
      });

      const many = await expectApiError(
        channel.send({
          embeds: [
            {
              description: 'd'.repeat(4097),
              fields: Array.from({ length: 26 }, (_, i) => ({ name: `f${i}`, value: 'v' })),
              footer: { text: 'f'.repeat(2049) },
              author: { name: 'a'.repeat(257) },
            },
          ],
        }),
      );
      expect(many.rawError).toMatchObject({
        errors: {
          embeds: {
            0: {
              description: { _errors: [{ message: 'Must be 4096 or fewer in length.' }] },
              fields: { _errors: [{ message: 'Must be 25 or fewer in length.' }] },
              footer: { text: { _errors: [{ message: 'Must be 2048 or fewer in length.' }] } },
              author: { name: { _errors: [{ message: 'Must be 256 or fewer in length.' }] } },
            },
          },
        },
      });

      const field = await expectApiError(channel.send({ embeds: [{ fields: [{ name: 'n'.repeat(257), value: 'v'.repeat(1025) }] }] }));
      expect(field.rawError).toMatchObject({
        errors: {
          embeds: {
            0: {
              fields: {
                0: {
                  name: { _errors: [{ message: 'Must be 256 or fewer in length.' }] },
                  value: { _errors: [{ message: 'Must be 1024 or fewer in length.' }] },
                },
              },
            },
          },
        },
      });

      // Two embeds of 3001 characters each: fine one by one, too much together.
      const half = { description: 'd'.repeat(3001) };
      await expect(channel.send({ embeds: [half] })).resolves.toBeDefined();
      const total = await expectApiError(channel.send({ embeds: [half, half] }));
      expect(total.rawError).toEqual({
        code: 50035,
        message: 'Invalid Form Body',
        errors: { embeds: { _errors: [{ code: 'MAX_EMBED_SIZE_EXCEEDED', message: 'Embed size exceeds maximum size of 6000' }] } },
      });
    });

    it('an empty message → 50006', async () => {
      const h = await connect();
      const channel = await alertsChannel(h);
      const error = await expectApiError(channel.send({ content: '' }));
      expect(error.rawError).toEqual({ code: 50006, message: 'Cannot send an empty message' });
      expect(error.status).toBe(400);
    });

    it('applies to interaction replies, nested under data', async () => {
      const h = await connect();
      const { fake, client } = h;
      const channel = await alertsChannel(h);
      const sent = await channel.send({ content: 'x', components: [{ type: 1, components: [{ type: 2, style: 1, label: 'Go', custom_id: 'go' }] }] });
      const outcome = nextInteraction(client, async (interaction) => {
        if (!interaction.isButton()) throw new Error('not a button');
        return interaction.reply({ content: 'r'.repeat(2001) }).then(
          () => undefined,
          (e: unknown) => e,
        );
      });
      const handle = fake.clickButton({ userId: fake.member('alice').user.id, messageId: sent.id, customId: 'go' });
      const error = await outcome;
      expect(error).toBeInstanceOf(DiscordAPIError);
      expect((error as DiscordAPIError).rawError).toMatchObject({
        code: 50035,
        errors: { data: { content: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH' }] } } },
      });
      expect(handle.acknowledged).toBe(false);
      expect(handle.attempts).toMatchObject([{ type: 4, status: 400, errorCode: 50035 }]);
    });
  });

  describe('failure injection', () => {
    it('a 429 injected once is retried by @discordjs/rest and the send succeeds', async () => {
      const h = await connect();
      const { fake } = h;
      const channel = await alertsChannel(h);
      const fault = fake.injectRateLimit({ method: 'POST', path: '/channels/:id/messages', times: 1, retryAfter: 0.2 });
      const started = Date.now();
      const sent = await channel.send({ content: 'after a rate limit' });
      const calls = fake.calls({ method: 'POST', path: `/channels/${channel.id}/messages` });
      expect(calls.map((c) => c.status)).toEqual([429, 200]);
      expect(calls[0]?.injected).toBe('rate_limit');
      expect(calls[0]?.response).toEqual({ message: 'You are being rate limited.', retry_after: 0.2, global: false });
      expect(calls[1]?.response).toMatchObject({ id: sent.id });
      expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(200);
      expect(fault.hits).toBe(1);
      expect(fault.remaining).toBe(0);
    });

    it('a 500 injected once is retried; 500s on every retry surface as HTTPError', async () => {
      const h = await connect();
      const { fake } = h;
      const channel = await alertsChannel(h);
      fake.injectServerError({ method: 'POST', path: `/channels/${channel.id}/messages`, status: 503, times: 1 });
      await channel.send({ content: 'after a 503' });
      expect(fake.calls({ method: 'POST', path: `/channels/${channel.id}/messages` }).map((c) => c.status)).toEqual([503, 200]);

      fake.clearCalls();
      fake.injectServerError({ method: 'POST', path: `/channels/${channel.id}/messages`, status: 500, times: 10 });
      const error = await channel.send({ content: 'never' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(HTTPError);
      expect((error as HTTPError).status).toBe(500);
      // One try and three retries (the @discordjs/rest default).
      expect(fake.calls({ method: 'POST' }).map((c) => c.status)).toEqual([500, 500, 500, 500]);
    });
  });

  describe('interaction responses', () => {
    it('a second response gets 40060 Interaction has already been acknowledged', async () => {
      const h = await connect();
      const { fake, client } = h;
      const channel = await alertsChannel(h);
      const sent = await channel.send({ content: 'x', components: [{ type: 1, components: [{ type: 2, style: 1, label: 'Go', custom_id: 'go' }] }] });
      const outcome = nextInteraction(client, async (interaction) => {
        if (!interaction.isButton()) throw new Error('not a button');
        await interaction.deferUpdate();
        // discord.js refuses a second response client-side; go to the API directly as a buggy bot would.
        return client.rest
          .post(Routes.interactionCallback(interaction.id, interaction.token), { body: { type: 4, data: { content: 'again' } }, auth: false })
          .then(
            () => undefined,
            (e: unknown) => e,
          );
      });
      const handle = fake.clickButton({ userId: fake.member('alice').user.id, messageId: sent.id, customId: 'go' });
      const error = await outcome;
      expect(error).toBeInstanceOf(DiscordAPIError);
      expect((error as DiscordAPIError).rawError).toEqual({ code: 40060, message: 'Interaction has already been acknowledged.' });
      expect((error as DiscordAPIError).status).toBe(400);
      expect(handle.response?.type).toBe(6);
      expect(handle.attempts.map((a) => a.status)).toEqual([204, 400]);
    });

    it('a response after the deadline gets 10062 Unknown interaction, and waitForResponse rejects', async () => {
      const h = await connect({ interactionResponseTimeoutMs: 150 });
      const { fake, client } = h;
      const channel = await alertsChannel(h);
      const sent = await channel.send({ content: 'x', components: [{ type: 1, components: [{ type: 2, style: 1, label: 'Go', custom_id: 'slow' }] }] });
      const outcome = nextInteraction(client, async (interaction) => {
        if (!interaction.isButton()) throw new Error('not a button');
        await new Promise((resolve) => setTimeout(resolve, 300));
        return interaction.reply({ content: 'too late' }).then(
          () => undefined,
          (e: unknown) => e,
        );
      });
      const handle = fake.clickButton({ userId: fake.member('alice').user.id, messageId: sent.id, customId: 'slow' });
      await expect(handle.waitForResponse()).rejects.toThrow(/not acknowledged within 150 ms/);
      const error = await outcome;
      expect(error).toBeInstanceOf(DiscordAPIError);
      expect((error as DiscordAPIError).rawError).toEqual({ code: 10062, message: 'Unknown interaction' });
      expect((error as DiscordAPIError).status).toBe(404);
    });

    it('registers slash commands, dispatches one with options, and takes deferReply + editReply + followUp', async () => {
      const h = await connect();
      const { fake, client } = h;
      const command = new SlashCommandBuilder()
        .setName('contain')
        .setDescription('Contain a resource')
        .addStringOption((o) => o.setName('target').setDescription('Instance id').setRequired(true))
        .addBooleanOption((o) => o.setName('dry_run').setDescription('Only plan'));
      await client.application?.commands.set([command.toJSON()], fake.guildId);
      const put = fake.lastCall({ method: 'PUT', path: `/applications/${fake.applicationId}/guilds/${fake.guildId}/commands` });
      expect(put?.status).toBe(200);
      expect(fake.commands('guild').map((c) => c.name)).toEqual(['contain']);

      const outcome = nextInteraction(client, async (interaction) => {
        if (!interaction.isChatInputCommand()) throw new Error('not a slash command');
        await interaction.deferReply({ flags: MessageFlags.Ephemeral });
        const target = interaction.options.getString('target', true);
        const dryRun = interaction.options.getBoolean('dry_run');
        await interaction.editReply({ content: `Containing ${target} (dry run: ${String(dryRun)})` });
        await interaction.followUp({ content: 'Evidence collected', flags: MessageFlags.Ephemeral });
        return { name: interaction.commandName, commandId: interaction.commandId, roles: (interaction.member as GuildMember).roles.cache.size };
      });
      const alice = fake.member('alice');
      const handle = fake.runSlashCommand({ userId: alice.user.id, name: 'contain', options: { target: 'i-0abc', dry_run: true } });
      const result = await outcome;
      expect(result).toEqual({ name: 'contain', commandId: fake.commands('guild')[0]?.id, roles: 2 });
      expect(handle.payload).toMatchObject({
        type: 2,
        data: { name: 'contain', type: 1, options: [{ name: 'target', type: 3, value: 'i-0abc' }, { name: 'dry_run', type: 5, value: true }] },
      });
      expect(await handle.waitForResponse()).toMatchObject({ type: 5, ephemeral: true });
      expect(handle.edits).toMatchObject([{ target: '@original', body: { content: 'Containing i-0abc (dry run: true)' } }]);
      expect(handle.original()).toMatchObject({ type: 20, flags: 64, content: 'Containing i-0abc (dry run: true)', interaction_metadata: { name: 'contain' } });
      expect(handle.followUps).toHaveLength(1);
      expect(handle.followUps[0]).toMatchObject({ content: 'Evidence collected', flags: 64 });
    });

    it('refuses to dispatch an unregistered command or a missing required option', async () => {
      const h = await connect();
      const alice = h.fake.member('alice').user.id;
      expect(() => h.fake.runSlashCommand({ userId: alice, name: 'nope' })).toThrow(/no registered command/);
      await h.client.application?.commands.set([{ name: 'status', description: 'Status', options: [{ type: 3, name: 'id', description: 'id', required: true }] }]);
      expect(() => h.fake.runSlashCommand({ userId: alice, name: 'status' })).toThrow(/required option id/);
    });

    it('a button opens a modal; the submitted modal arrives with its field values', async () => {
      const h = await connect();
      const { fake, client } = h;
      const channel = await alertsChannel(h);
      const sent = await channel.send({ content: 'x', components: [{ type: 1, components: [{ type: 2, style: 1, label: 'Note', custom_id: 'note' }] }] });
      const shown = nextInteraction(client, async (interaction) => {
        if (!interaction.isButton()) throw new Error('not a button');
        await interaction.showModal(
          new ModalBuilder()
            .setCustomId('note-modal')
            .setTitle('Add a note')
            .addComponents(
              new ActionRowBuilder<TextInputBuilder>().addComponents(
                new TextInputBuilder().setCustomId('text').setLabel('Note').setStyle(TextInputStyle.Paragraph),
              ),
            ),
        );
      });
      const alice = fake.member('alice').user.id;
      const click = fake.clickButton({ userId: alice, messageId: sent.id, customId: 'note' });
      await shown;
      expect((await click.waitForResponse()).type).toBe(9);

      const submitted = nextInteraction(client, async (interaction) => {
        if (!interaction.isModalSubmit()) throw new Error('not a modal submit');
        const value = interaction.fields.getTextInputValue('text');
        await interaction.reply({ content: `noted: ${value}`, flags: MessageFlags.Ephemeral });
        return { value, messageId: interaction.message?.id };
      });
      const submit = fake.submitModal({ userId: alice, customId: 'note-modal', fields: { text: 'looks like a miner' } });
      expect(await submitted).toEqual({ value: 'looks like a miner', messageId: sent.id });
      expect((await submit.waitForResponse()).data).toMatchObject({ content: 'noted: looks like a miner' });
    });
  });

  it('starts a thread from a message (thread id = message id) and posts into it', async () => {
    const h = await connect();
    const { fake } = h;
    const channel = await alertsChannel(h);
    const sent = await channel.send({ content: 'Incident 42' });
    const thread = await sent.startThread({ name: 'incident-42' });
    expect(thread.id).toBe(sent.id);
    expect(thread.parentId).toBe(channel.id);
    expect(fake.lastCall({ method: 'POST', path: `/channels/${channel.id}/messages/${sent.id}/threads` })?.status).toBe(201);
    const inThread = await thread.send({ content: 'timeline: ...' });
    expect(inThread.channelId).toBe(thread.id);
    expect(fake.messages(thread.id).map((m) => m.content)).toEqual(['timeline: ...']);
    expect(fake.channel(thread.id)).toMatchObject({ type: 11, name: 'incident-42', message_count: 1 });
    const again = await expectApiError(sent.startThread({ name: 'again' }));
    expect(again.code).toBe(160004);
  });

  it('accepts multipart bodies with payload_json and files', async () => {
    const h = await connect();
    const { fake } = h;
    const channel = await alertsChannel(h);
    const sent = await channel.send({
      content: 'evidence attached',
      files: [{ attachment: Buffer.from('{"pid":4242}'), name: 'evidence.json' }],
    });
    const call = fake.lastCall({ method: 'POST', path: `/channels/${channel.id}/messages` });
    expect(call?.headers['content-type']).toMatch(/^multipart\/form-data/);
    expect(call?.body).toMatchObject({ content: 'evidence attached', attachments: [{ id: '0' }] });
    expect(call?.files).toHaveLength(1);
    expect(call?.files[0]?.filename).toBe('evidence.json');
    expect(call?.files[0]?.data.toString()).toBe('{"pid":4242}');
    expect(sent.attachments.first()?.name).toBe('evidence.json');
    expect(sent.attachments.first()?.size).toBe(12);
  });

  it('fetches members and roles over REST', async () => {
    const h = await connect();
    const { fake, client } = h;
    const guild = client.guilds.cache.get(fake.guildId);
    const alice = fake.member('alice');
    const member = await guild?.members.fetch(alice.user.id);
    expect(member?.roles.cache.has(fake.role('Responder').id)).toBe(true);
    expect(fake.lastCall({ method: 'GET', path: `/guilds/${fake.guildId}/members/${alice.user.id}` })?.status).toBe(200);
    const roles = await guild?.roles.fetch();
    expect(roles?.map((r) => r.name)).toEqual(expect.arrayContaining(['@everyone', 'Responder', 'Approver']));
    await member?.roles.add(fake.role('Approver').id);
    expect(fake.member('alice').roles).toContain(fake.role('Approver').id);
    const unknown = await expectApiError(guild!.members.fetch('123456789012345678'));
    expect(unknown.rawError).toEqual({ code: 10007, message: 'Unknown Member' });
  });

  it('serves the other calls a bot makes: application, history, reactions, typing, DMs, fetch/delete reply', async () => {
    const h = await connect();
    const { fake, client } = h;
    const channel = await alertsChannel(h);
    const app = await client.application?.fetch();
    expect(app?.id).toBe(fake.applicationId);

    const first = await channel.send({ content: 'one' });
    const second = await channel.send({ content: 'two', reply: { messageReference: first.id } });
    expect(fake.message(second.id)).toMatchObject({ type: 19, message_reference: { message_id: first.id }, referenced_message: { id: first.id } });
    const history = await channel.messages.fetch({ limit: 10 });
    expect([...history.keys()]).toEqual([second.id, first.id]);

    await first.react('✅');
    expect(fake.message(first.id)?.reactions).toMatchObject([{ emoji: { name: '✅', id: null }, count: 1, me: true }]);
    expect((await expectApiError(first.react('<:party:123456789012345678>'))).rawError).toEqual({ code: 10014, message: 'Unknown Emoji' });
    await channel.sendTyping();
    expect(fake.lastCall({ path: `/channels/${channel.id}/typing` })?.status).toBe(204);

    const bob = await client.users.fetch(fake.member('bob').user.id);
    const dm = await bob.send('You were paged');
    expect(fake.channel(dm.channelId)).toMatchObject({ type: 1, recipients: [{ id: bob.id }] });

    const sent = await channel.send({ content: 'x', components: [{ type: 1, components: [{ type: 2, style: 1, label: 'Go', custom_id: 'go' }] }] });
    const outcome = nextInteraction(client, async (interaction) => {
      if (!interaction.isButton()) throw new Error('not a button');
      await interaction.reply({ content: 'working' });
      const reply = await interaction.fetchReply();
      await interaction.deleteReply();
      return reply.id;
    });
    const handle = fake.clickButton({ userId: fake.member('alice').user.id, messageId: sent.id, customId: 'go' });
    const replyId = await outcome;
    expect(fake.calls({ method: 'GET', path: `/webhooks/${fake.applicationId}/${handle.token}/messages/@original` })[0]?.response).toMatchObject({
      id: replyId,
      content: 'working',
    });
    expect(fake.message(replyId)).toBeUndefined();
    expect(handle.original()).toBeUndefined();
    expect(fake.calls({ method: 'DELETE', path: `/webhooks/${fake.applicationId}/${handle.token}/messages/@original` })).toHaveLength(1);
  });

  it('waitForMessage finds a message the bot posts later; a standalone @discordjs/rest REST works too', async () => {
    const h = await connect();
    const { fake } = h;
    const channel = await alertsChannel(h);
    const waiting = fake.waitForMessage((m) => m.channel_id === channel.id && m.embeds[0]?.title === 'Falco: shell in container');
    setTimeout(() => void channel.send({ embeds: [{ title: 'Falco: shell in container' }] }), 20);
    const message = await waiting;
    expect(message.author.id).toBe(fake.botUser.id);
    await expect(fake.waitForMessage((m) => m.content === 'never', 50)).rejects.toThrow(/no matching message within 50 ms/);

    const rest = new REST({ api: fake.apiUrl }).setToken(fake.token);
    await rest.put(Routes.applicationCommands(fake.applicationId), { body: [{ name: 'triage', description: 'Triage a finding' }] });
    expect(fake.commands('global').map((c) => c.name)).toEqual(['triage']);
    expect(fake.lastCall({ method: 'PUT' })).toMatchObject({ path: `/applications/${fake.applicationId}/commands`, version: 10, status: 200 });
  });

  it('resumes after op 7 RECONNECT on resume_gateway_url and keeps delivering interactions', async () => {
    const h = await connect();
    const { fake, client } = h;
    const channel = await alertsChannel(h);
    const sent = await channel.send({ content: 'x', components: [{ type: 1, components: [{ type: 2, style: 1, label: 'Go', custom_id: 'go' }] }] });
    const resumed = new Promise<void>((resolve) => client.once(Events.ShardResume, () => resolve()));
    fake.gateway.requestReconnect();
    await resumed;
    expect(fake.gateway.frames.some((f) => f.direction === 'in' && f.op === 6)).toBe(true);
    expect(fake.gateway.identifies).toHaveLength(1);
    const done = nextInteraction(client, async (interaction) => {
      if (!interaction.isButton()) throw new Error('not a button');
      await interaction.deferUpdate();
    });
    const handle = fake.clickButton({ userId: fake.member('alice').user.id, messageId: sent.id, customId: 'go' });
    await done;
    expect((await handle.waitForResponse()).type).toBe(6);
  });
});
