/**
 * Who can click: only interactions from the incident channel (DISCORD_CHANNEL_ID, or a thread
 * under it) of sentinel's own server (DISCORD_GUILD_ID) reach a handler. A slash command from
 * another server the bot was added to, and a click on a real approval button from another
 * channel, get an ephemeral refusal, an audit entry and a warning, and change nothing: the
 * approval stays pending and the playbook keeps waiting.
 *
 * Everything is real: the bot (startBot), the fake Discord with a second guild (addGuild: the bot
 * added to someone else's server), the commands registered there by the product's own
 * register-commands, the Falco playbook on moto that asks for the approval.
 */
import { Writable } from 'node:stream';
import type { APIMessage } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRegisterCommands } from '../../src/cli/registerCommandsCommand.js';
import { createLogger } from '../../src/logger.js';
import { waitFor } from '../support/aws.js';
import type { FakeGuild, InteractionHandle } from '../support/fakeDiscord/index.js';
import { artifactExecEvent, createBotHarness, parseLogs, POD_NAME, POD_NAMESPACE, type BotHarness } from '../helpers/botHarness.js';

let h: BotHarness;
let other: FakeGuild;

const sink = () =>
  new Writable({
    write(_chunk, _enc, done) {
      done();
    },
  });

beforeAll(async () => {
  h = await createBotHarness({ registerCommands: true });
  await h.start();
  // The bot is added to someone else's server, where alice also has a role called Responder.
  other = h.discord.addGuild({
    name: 'Elsewhere',
    roles: [{ name: 'Responder' }],
    members: [{ id: h.users.alice, username: 'alice', roles: ['Responder'] }],
  });
  await waitFor(async () => h.bot.client.guilds.cache.get(other.id), { what: 'the bot to see the other guild' });
  // And sentinel's commands are registered there too (register-commands run with that guild's id).
  const config = { ...h.config, discord: { ...h.config.discord, guildId: other.id } };
  await runRegisterCommands({ config, logger: createLogger({ stream: sink() }), stdin: process.stdin, stdout: sink(), stderr: sink() });
}, 120_000);

afterAll(async () => {
  await h?.close();
});

/** The ephemeral text refusal an interaction got (an immediate reply, mentions off). */
async function refusal(handle: InteractionHandle): Promise<string> {
  const response = await handle.waitForResponse();
  expect(response.type).toBe(4);
  expect(response.ephemeral).toBe(true);
  expect(response.data?.allowed_mentions).toEqual({ parse: [] });
  return String(response.data?.content ?? '');
}

async function refusedEntries(outcome: string) {
  return waitFor(async () => {
    const entries = await h.bot.context.audit.readAudit({ what: 'interaction-refused', outcome });
    return entries.length ? entries : undefined;
  });
}

function refusalLog(interactionId: string) {
  return parseLogs(h.logs).find((l) => l.interactionId === interactionId && l.message === 'interaction refused: not from the incident channel of the configured guild');
}

const pod = `${POD_NAMESPACE}/${POD_NAME}`;

describe('a slash command from another guild', () => {
  it('is refused: ephemeral, audited and logged with guild, channel and kind, never the token; nothing runs', async () => {
    const channelId = other.channel('general').id;
    const callsBefore = h.discord.lastSeq;
    const handle = h.discord.runSlashCommand({ userId: h.users.alice, name: 'isolate', options: { pod, reason: 'from elsewhere' }, channelId });
    expect(await refusal(handle)).toMatch(/only in its incident channel, on its own server: it was sent from another server\. Nothing was done\./);

    const [entry, ...more] = await refusedEntries('refused-other-guild');
    expect(more).toEqual([]);
    expect(entry).toMatchObject({
      who: `discord:${h.users.alice}`,
      what: 'interaction-refused',
      detail: { guildId: other.id, channelId, kind: 'slash-command', name: 'isolate', reason: 'it was sent from another server' },
    });
    expect(JSON.stringify(entry)).not.toContain(handle.token);
    expect(refusalLog(handle.id)).toMatchObject({ level: 'warn', guildId: other.id, channelId, kind: 'slash-command' });
    expect(h.logs.join('\n')).not.toContain(handle.token);

    // Nothing else happened: no preflight, no confirmation, no NetworkPolicy, nothing posted or edited.
    expect(handle.followUps).toEqual([]);
    expect(handle.edits).toEqual([]);
    expect(await h.bot.context.audit.readAudit({ what: '/isolate' })).toEqual([]);
    expect(h.kube.networkPolicies(POD_NAMESPACE)).toEqual([]);
    expect(h.discord.calls((c) => c.seq > callsBefore && c.method !== 'GET' && !c.path.startsWith(`/interactions/${handle.id}/`))).toEqual([]);
  });

  it('the same command in the incident channel goes through (the refusal is about the place)', async () => {
    const handle = h.discord.runSlashCommand({ userId: h.users.alice, name: 'isolate', options: { pod, reason: 'from the incident channel' }, channelId: h.channelId });
    const response = await handle.waitForResponse();
    expect(response.type).toBe(5);
    await handle.waitForEdit(undefined, 15_000);
    expect(handle.original()?.embeds[0]?.title).toBe('Confirm this action?');
  });

  it('a thread under the incident channel counts as the incident channel', async () => {
    const starter = await h.bot.context.discord.post(h.channelId, { content: 'discussion' });
    const threadId = await h.bot.context.discord.thread(h.channelId, starter.messageId, 'discussion');
    const handle = h.discord.runSlashCommand({ userId: h.users.alice, name: 'isolate', options: { pod, reason: 'from a thread' }, channelId: threadId });
    expect((await handle.waitForResponse()).type).toBe(5);
    await handle.waitForEdit(undefined, 15_000);
    expect(handle.original()?.embeds[0]?.title).toBe('Confirm this action?');
    expect(refusalLog(handle.id)).toBeUndefined();
  });
});

describe('a click on a real approval button from another channel', () => {
  let approval: APIMessage;
  let approvalId: string;

  const buttons = (m: APIMessage) =>
    ((m.components ?? []) as unknown as { components?: { custom_id?: string }[] }[]).flatMap((row) => row.components ?? []).map((c) => c.custom_id ?? '');

  beforeAll(async () => {
    const tag = `boundary-${Date.now()}`;
    await h.send(artifactExecEvent(h.node.name, { tag }));
    approval = await h.waitForChannelMessage((m) => buttons(m).some((id) => id.startsWith('apv:')) && JSON.stringify(m.embeds).includes(tag), 90_000);
    approvalId = /^apv:([A-Za-z0-9_-]+):/.exec(buttons(approval)[0]!)![1]!;
    expect((await h.bot.context.approvals.get(approvalId))?.status).toBe('pending');
  }, 120_000);

  it('is refused, audited with the approval id, and the approval stays pending', async () => {
    // The bot's own message with the same buttons, in another channel of its own server (as
    // after a move of the incident channel): a click there is a genuine Discord interaction.
    const general = h.discord.channel('general').id;
    const copy = await h.bot.context.discord.post(general, { content: 'copy', components: approval.components as never });
    const callsBefore = h.discord.lastSeq;
    const click = h.discord.clickButton({ userId: h.users.alice, messageId: copy.messageId, customId: `apv:${approvalId}:block` });
    expect(await refusal(click)).toMatch(/it was sent from another channel than the incident channel\. Nothing was done\./);

    const entries = await refusedEntries('refused-other-channel');
    const entry = entries.find((e) => e.approvalId === approvalId);
    expect(entry).toMatchObject({
      who: `discord:${h.users.alice}`,
      approvalId,
      detail: { guildId: h.discord.guildId, channelId: general, kind: 'button', name: `apv:${approvalId}:block` },
    });
    expect(JSON.stringify(entry)).not.toContain(click.token);
    expect(refusalLog(click.id)).toMatchObject({ level: 'warn', channelId: general, kind: 'button' });

    // Nothing decided: the approval is pending, its message untouched, the playbook still waiting.
    const record = await h.bot.context.approvals.get(approvalId);
    expect(record?.status).toBe('pending');
    expect(JSON.stringify(entry)).not.toContain(record!.taskToken);
    expect(await h.bot.context.audit.readAudit({ approvalId, what: 'approval-block' })).toEqual([]);
    // (The incident message may get its status edit meanwhile; the approval message is not touched.)
    expect(h.discord.calls((c) => c.seq > callsBefore && c.method === 'PATCH' && (c.path.includes(approval.id) || c.path.includes(copy.messageId)))).toEqual([]);
    expect(h.discord.message(approval.id)?.components).toEqual(approval.components);
  });

  it('from a thread under another channel is refused too; the real button in the incident channel still decides', async () => {
    const general = h.discord.channel('general').id;
    const starter = await h.bot.context.discord.post(general, { content: 'side discussion' });
    const threadId = await h.bot.context.discord.thread(general, starter.messageId, 'side');
    const inThread = await h.bot.context.discord.post(threadId, { content: 'copy', components: approval.components as never });
    const click = h.discord.clickButton({ userId: h.users.alice, messageId: inThread.messageId, customId: `apv:${approvalId}:allow` });
    expect(await refusal(click)).toMatch(/from a thread outside the incident channel/);
    const entry = (await refusedEntries('refused-thread-outside-channel')).find((e) => e.approvalId === approvalId);
    expect(entry?.detail).toMatchObject({ channelId: threadId, threadParentId: general, kind: 'button' });
    expect((await h.bot.context.approvals.get(approvalId))?.status).toBe('pending');

    // The original button, in the incident channel, is not refused.
    const real = h.discord.clickButton({ userId: h.users.alice, messageId: approval.id, customId: `apv:${approvalId}:allow` });
    expect((await real.waitForResponse()).type).toBe(6);
    const decided = await waitFor(async () => {
      const r = await h.bot.context.approvals.get(approvalId);
      return r?.status !== 'pending' ? r : undefined;
    });
    expect(decided?.decision).toMatchObject({ decision: 'allow', by: [`discord:${h.users.alice}`] });
  });
});
