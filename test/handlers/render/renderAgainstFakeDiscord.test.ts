/**
 * Every builder's worst-case payload, sent by the real discord.js Client to the fake Discord
 * (which enforces Discord's limits and answers 400 like Discord): no 400, and every recorded
 * body carries `allowed_mentions: { parse: [] }`, so the stored messages mention nobody.
 */
import { ChannelType, Client, Events, GatewayIntentBits, type Interaction, type Message, type TextChannel } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderApprovalMessage } from '../../../src/handlers/render/approvalMessage.js';
import { renderCommandResult, renderConfirmation } from '../../../src/handlers/render/confirmMessage.js';
import { renderDecidedApproval, renderPendingSecondApproval } from '../../../src/handlers/render/decisionUpdate.js';
import { renderIncidentMessage } from '../../../src/handlers/render/incidentMessage.js';
import { renderNotifyAlert } from '../../../src/handlers/render/notifyMessage.js';
import { renderReport, renderReportFollowUps } from '../../../src/handlers/render/reportMessage.js';
import type { RenderedMessage } from '../../../src/handlers/render/payload.js';
import { type FakeDiscord, type RecordedCall, startFakeDiscord } from '../../support/fakeDiscord/index.js';
import { HOSTILE, unicodeFill, worstIncidentRecord, worstPreflight, worstTriage } from './fixtures.js';

let fake: FakeDiscord;
let client: Client;
let channel: TextChannel;
let alice: string;
let bob: string;
let responderRole: string;
/** Hostile text naming real members and roles, so a mention would really resolve if allowed. */
let pings: string;

beforeAll(async () => {
  fake = await startFakeDiscord();
  client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: fake.apiUrl } });
  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  await client.login(fake.token);
  await ready;
  const cached = client.channels.cache.get(fake.channel('alerts').id);
  if (!cached || cached.type !== ChannelType.GuildText) throw new Error('alerts channel not cached');
  channel = cached;
  alice = fake.member('alice').user.id;
  bob = fake.member('bob').user.id;
  responderRole = fake.role('Responder').id;
  pings = `<@${alice}> <@!${bob}> <@&${responderRole}> @everyone @here ${HOSTILE}`;
});

afterAll(async () => {
  await client?.destroy();
  await fake?.close();
});

function triage() {
  const t = worstTriage();
  return { ...t, context: { ...t.context, cmdline: `${pings} ${t.context.cmdline}`, user: pings } };
}

function approvalInput() {
  return {
    approvalId: 'apv_Zz0123456789-abcdefghijklmnopqrstuvw',
    incidentId: `inc-${'9'.repeat(120)}`,
    triage: triage(),
    proposedAction: { action: 'isolate-node', summary: `${pings}${unicodeFill(5000)}` },
    preflight: worstPreflight(),
    deadline: new Date(Date.now() + 15 * 60_000),
    evidenceLinks: Array.from({ length: 1000 }, (_, i) => ({ label: `${i} ${pings}`, url: `https://evidence.example/${i}/${'p'.repeat(i % 7 ? 40 : 1500)}` })),
    requiredApprovals: 2 as const,
    approvals: [{ by: alice, at: new Date(), decision: 'block' as const }],
  };
}

function expectNoMentions(call: RecordedCall, where: 'body' | 'data' = 'body'): void {
  expect(call.status, JSON.stringify(call.response).slice(0, 500)).toBeLessThan(300);
  const body = call.body as Record<string, unknown>;
  const sent = (where === 'data' ? (body.data as Record<string, unknown>) : body) ?? {};
  expect(sent.allowed_mentions).toStrictEqual({ parse: [] });
}

/** Sends `payload`, asserts the POST was accepted with no mentions allowed; returns the message. */
async function send(payload: RenderedMessage, target: { send: TextChannel['send'] } = channel): Promise<Message> {
  const after = fake.lastSeq;
  const message = await target.send(payload);
  const call = await fake.waitForCall({ method: 'POST', path: '/channels/:channel_id/messages' }, 2000, after);
  expectNoMentions(call);
  const stored = fake.message(message.id);
  expect(stored).toMatchObject({ mentions: [], mention_roles: [], mention_everyone: false });
  return message;
}

/** Runs `handler` for the next interaction. */
function nextInteraction(handler: (interaction: Interaction) => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    client.once(Events.InteractionCreate, (interaction) => {
      handler(interaction).then(resolve, reject);
    });
  });
}

describe('rendered payloads against the fake Discord', () => {
  it('incident message (100 KB command line, 300-char rule, hostile text) is accepted', async () => {
    const message = await send(
      renderIncidentMessage({
        incidentId: `inc-${'x'.repeat(200)}`,
        triage: triage(),
        status: 'awaiting-approval',
        repeats: { count: 12, firstSeen: new Date(Date.now() - 3_600_000), lastSeen: new Date() },
        executionName: 'e'.repeat(80),
        consoleUrl: 'https://console.aws.amazon.com/states/home#/executions/details/arn:aws:states:x',
      }),
    );
    expect(message.embeds).toHaveLength(1);
    // Edited in place with a new status: the PATCH is accepted too.
    const after = fake.lastSeq;
    await message.edit(renderIncidentMessage({ incidentId: 'inc-1', triage: triage(), status: 'done', repeats: undefined }));
    expectNoMentions(await fake.waitForCall({ method: 'PATCH' }, 2000, after));
  });

  it('approval message, its second-approval and decided edits, and the click that decides it', async () => {
    const input = approvalInput();
    const message = await send(renderApprovalMessage({ ...input, approvals: [] }));

    let after = fake.lastSeq;
    await message.edit(renderPendingSecondApproval(input));
    expectNoMentions(await fake.waitForCall({ method: 'PATCH' }, 2000, after));
    expect(fake.message(message.id)).toMatchObject({ mentions: [], mention_everyone: false });

    // Bob clicks Block: the bot answers by updating the message to its decided state.
    after = fake.lastSeq;
    const handled = nextInteraction(async (interaction) => {
      if (!interaction.isButton()) throw new Error('not a button');
      expect(interaction.customId).toBe(`apv:${input.approvalId}:block`);
      await interaction.update(
        renderDecidedApproval({ ...input, decision: 'block', decidedBy: [alice, interaction.user.id], at: new Date(), note: `${pings}${unicodeFill(3000)}` }),
      );
    });
    const click = fake.clickButton({ userId: bob, roles: ['Approver'], messageId: message.id, customId: `apv:${input.approvalId}:block` });
    await handled;
    const response = await click.waitForResponse();
    expect(response.type).toBe(7);
    expect(response.status).toBeLessThan(300);
    expect(response.data?.allowed_mentions).toStrictEqual({ parse: [] });
    expect(fake.calls({ status: 400 }).filter((c) => c.seq > after)).toEqual([]);

    // Both buttons are now disabled: Discord (the fake) refuses a click on them.
    const decided = fake.message(message.id);
    const buttons = (decided?.components as Array<{ components: Array<{ disabled?: boolean }> }>).flatMap((r) => r.components);
    expect(buttons.map((b) => b.disabled)).toEqual([true, true]);
    expect(() => fake.clickButton({ userId: alice, messageId: message.id, customId: `apv:${input.approvalId}:allow` })).toThrow();
  });

  it('notify alert is accepted', async () => {
    await send(renderNotifyAlert(worstTriage({ source: 'guardduty', route: 'notify', context: { ...worstTriage().context, title: pings } })));
  });

  it('report (1000 evidence items) is accepted and its follow-ups post in the thread, each within 2000 characters', async () => {
    const record = worstIncidentRecord();
    const incident = {
      ...record,
      decisions: record.decisions.map((d, i) => ({ ...d, by: i % 2 ? alice : d.by, note: `${pings} ${d.note ?? ''}` })),
      actions: record.actions.map((a) => ({ ...a, summary: `${pings} ${a.summary}` })),
    };
    const input = { incident, record: { location: 's3://sentinel-evidence/incidents/2026-11-20T03:14:07.123Z/exec.json' } };
    const message = await send(renderReport(input, { maxEmbeds: 10 }));
    const thread = await message.startThread({ name: 'incident report' });
    const followUps = renderReportFollowUps(input);
    expect(followUps.length).toBeGreaterThan(0);
    for (const followUp of followUps) {
      const posted = await send(followUp, thread);
      expect(posted.content.length).toBeLessThanOrEqual(2000);
      expect(posted.channelId).toBe(thread.id);
    }
    // Follow-ups name Alice (<@id>) in the decision trail, yet nobody is mentioned.
    expect(fake.messages(thread.id).some((m) => m.content.includes(`<@${alice}>`))).toBe(true);
  });

  it('confirmation (ephemeral reply to a slash command) and the command result (update) are accepted', async () => {
    const confirmId = 'cfm_0123456789abcdefghij';
    const replied = nextInteraction(async (interaction) => {
      if (!interaction.isChatInputCommand()) throw new Error('not a command');
      await interaction.reply(renderConfirmation({ confirmId, command: `${pings}${unicodeFill(100_000)}`, preflight: worstPreflight() }));
    });
    const command = fake.runSlashCommand({ userId: alice, name: 'block-ip', allowUnregistered: true });
    await replied;
    const response = await command.waitForResponse();
    expect(response).toMatchObject({ type: 4, ephemeral: true });
    expect(response.status).toBeLessThan(300);
    expect(response.data?.allowed_mentions).toStrictEqual({ parse: [] });
    expect(response.data?.flags).toBe(64);

    const original = command.original();
    if (!original) throw new Error('no reply');
    const updated = nextInteraction(async (interaction) => {
      if (!interaction.isButton()) throw new Error('not a button');
      expect(interaction.customId).toBe(`cfm:${confirmId}:yes`);
      await interaction.update(renderCommandResult({ ...worstPreflight(), status: 'succeeded', summary: pings }, `Block IP ${pings}`));
    });
    const click = fake.clickButton({ userId: alice, messageId: original.id, customId: `cfm:${confirmId}:yes` });
    await updated;
    const update = await click.waitForResponse();
    expect(update.type).toBe(7);
    expect(update.status).toBeLessThan(300);
    expect(update.data?.allowed_mentions).toStrictEqual({ parse: [] });
    expect(update.data?.components).toEqual([]);
  });

  it('the fake does answer 400 for an over-limit payload (the checks above can fail)', async () => {
    const payload = renderIncidentMessage({ incidentId: 'i', triage: triage(), status: 'running', repeats: undefined });
    const first = payload.embeds[0];
    if (!first) throw new Error('no embed');
    const tooBig = { ...payload, embeds: [{ ...first, description: 'x'.repeat(4097) }] };
    await expect(channel.send(tooBig)).rejects.toMatchObject({ status: 400 });
  });
});
