/**
 * A decision is never lost between the click and the playbook: one recorded but not sent (the bot
 * stopped in between, or Step Functions could not be reached) is sent again, and one whose task no
 * longer waits is closed and shown as not applied. Real discord.js against the fake Discord, real
 * AWS SDK against moto; the "unreachable" Step Functions is a real SFNClient aimed at a closed port.
 */
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import type { APIEmbed, APIMessage } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStepFunctionsEngine } from '../../src/bot/engine/stepFunctionsEngine.js';
import { redeliverDecisions } from '../../src/bot/redeliverDecisions.js';
import { deliverDecision } from '../../src/handlers/deliverDecision.js';
import { MOTO_REGION, waitFor } from '../support/aws.js';
import { artifactExecEvent, createBotHarness, type BotHarness } from '../helpers/botHarness.js';

let h: BotHarness;
beforeAll(async () => {
  h = await createBotHarness({});
  await h.start();
});
afterAll(() => h?.close());

const field = (embed: APIEmbed | undefined, name: string) => embed?.fields?.find((f) => f.name === name)?.value;

interface Posted {
  message: APIMessage;
  approvalId: string;
  executionArn: string;
}

/** Sends an approval-route event and waits for its approval message. */
async function postApproval(tag: string): Promise<Posted> {
  await h.send(artifactExecEvent(h.node.name, { tag }));
  const message = await h.waitForChannelMessage((m) => (m.components?.length ?? 0) > 0 && JSON.stringify(m.embeds).includes(`web-${tag}`), 90_000);
  const customId = (message.components![0] as { components: { custom_id: string }[] }).components[1]!.custom_id;
  const approvalId = /^apv:([^:]+):block$/.exec(customId)![1]!;
  const incidentId = /incident (inc-[0-9a-f]+)/.exec(message.embeds[0]!.footer!.text)![1]!;
  const { executionName } = (await h.bot.context.incidents.get(incidentId))!;
  return { message, approvalId, executionArn: `${h.stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName}` };
}

const minutesAgo = (n: number) => new Date(Date.now() - n * 60_000);
const decisionShown = (messageId: string) => field(h.discord.message(messageId)?.embeds[0], 'Decision') ?? '';

describe('decisions recorded but not delivered', () => {
  it('a decision recorded just before the bot stopped is sent once it runs again (start-up or periodic sweep), and the message says it came late', async () => {
    const { message, approvalId, executionArn } = await postApproval('redeliver-restart');
    await h.stop();
    // The click was claimed in the store, then the process died before SendTaskSuccess.
    const claimed = await h.bot.context.approvals.decide(approvalId, { by: `discord:${h.users.alice}`, decision: 'block', at: minutesAgo(2) });
    expect(claimed.outcome).toBe('decided');

    await h.start(); // the start-up sweep (or the next periodic one) finds it
    const done = await h.finished(executionArn, 120_000);
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output!)).toMatchObject({ decision: { action: 'block', by: `discord:${h.users.alice}` } });

    const record = await h.bot.context.approvals.get(approvalId);
    expect(record?.status).toBe('decided');
    expect(record?.delivered?.at).toEqual(expect.any(String));
    expect(await h.bot.context.approvals.listUndelivered()).not.toContainEqual(expect.objectContaining({ approvalId }));
    expect(await h.bot.context.audit.readAudit({ approvalId, outcome: 'delivered' })).toHaveLength(1);
    const shown = await waitFor(async () => (decisionShown(message.id).startsWith('⛔ Blocked') ? decisionShown(message.id) : undefined), {
      timeoutMs: 30_000,
      what: 'the late decision on the approval message',
    });
    expect(shown).toContain(`<@${h.users.alice}>`);
    expect(shown).toContain('Delivered to the playbook late');
  });

  it('when Step Functions cannot be reached the decision stays recorded; a later sweep delivers it; a young one is left to its click', async () => {
    const { approvalId, executionArn } = await postApproval('redeliver-outage');
    const decided = await h.bot.context.approvals.decide(approvalId, { by: `discord:${h.users.bob}`, decision: 'allow', at: new Date() });
    if (decided.outcome !== 'decided') throw new Error(`expected decided, got ${decided.outcome}`);

    const unreachable = new SFNClient({ region: MOTO_REGION, endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 1 });
    try {
      const outage = { ...h.bot.context, engine: createStepFunctionsEngine(unreachable, h.config.bot.stateMachines) };
      const delivery = await deliverDecision(outage, decided.record);
      expect(delivery.outcome).toBe('retry');
    } finally {
      unreachable.destroy();
    }
    expect((await h.bot.context.approvals.get(approvalId))?.delivered).toBeUndefined();
    expect((await h.bot.context.approvals.listUndelivered()).map((r) => r.approvalId)).toContain(approvalId);
    expect((await h.describeExecution(executionArn)).status).toBe('RUNNING');

    // Within the grace period the click that made it may still be sending: left alone.
    expect((await redeliverDecisions(h.bot.context)).delivered).toBe(0);
    expect((await h.bot.context.approvals.get(approvalId))?.delivered).toBeUndefined();

    const swept = await redeliverDecisions(h.bot.context, { graceMs: 0 });
    expect(swept).toMatchObject({ delivered: 1, gone: 0, retrying: 0 });
    const done = await h.finished(executionArn, 120_000);
    expect(JSON.parse(done.output!)).toMatchObject({ decision: { action: 'allow', by: `discord:${h.users.bob}` } });
    expect((await h.bot.context.approvals.get(approvalId))?.delivered).toBeDefined();
  });

  it('a replica that finds the task spent because another replica delivered it leaves the approval decided', async () => {
    const { approvalId, executionArn } = await postApproval('redeliver-replicas');
    const decided = await h.bot.context.approvals.decide(approvalId, { by: `discord:${h.users.alice}`, decision: 'allow', at: minutesAgo(3) });
    if (decided.outcome !== 'decided') throw new Error(`expected decided, got ${decided.outcome}`);
    // Replica A sends it and records the delivery ...
    expect((await deliverDecision(h.bot.context, decided.record)).outcome).toBe('delivered');
    expect((await h.finished(executionArn, 120_000)).status).toBe('SUCCEEDED');
    // ... replica B, working from the listing it took before, finds the token spent.
    const late = await deliverDecision(h.bot.context, decided.record);
    expect(late).toMatchObject({ outcome: 'delivered', byOther: true });
    const record = await h.bot.context.approvals.get(approvalId);
    expect(record).toMatchObject({ status: 'decided', delivered: expect.any(Object) });
    expect(record?.failure).toBeUndefined();
  });

  it('a recorded decision whose task no longer waits is closed as failed and shown as not applied', async () => {
    const { message, approvalId, executionArn } = await postApproval('redeliver-gone');
    const { taskToken } = (await h.bot.context.approvals.get(approvalId))!;
    // Someone else resumed the task (an operator, the default decision): the token is spent.
    await h.aws.sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify({ action: 'allow', by: 'timeout', at: new Date().toISOString() }) }));
    expect((await h.finished(executionArn, 120_000)).status).toBe('SUCCEEDED');
    await h.bot.context.approvals.decide(approvalId, { by: `discord:${h.users.carol}`, decision: 'block', at: minutesAgo(5) });

    const swept = await redeliverDecisions(h.bot.context);
    expect(swept).toMatchObject({ delivered: 0, gone: 1 });
    const record = await h.bot.context.approvals.get(approvalId);
    expect(record?.status).toBe('failed');
    expect(record?.failure?.reason).toContain('no longer waits for this decision');
    expect(record?.decision?.by).toEqual([`discord:${h.users.carol}`]);
    // Recorded in the outbox and shown on the message by its sender (approval lane).
    const shown = await waitFor(async () => (decisionShown(message.id).startsWith('❌') ? decisionShown(message.id) : undefined), { timeoutMs: 30_000, what: 'not applied on the message' });
    expect(shown).toMatch(/^❌ Not applied by /);
    expect(await h.bot.context.audit.readAudit({ approvalId, outcome: 'not-applied' })).toHaveLength(1);
    // Nothing is left to send.
    expect(await redeliverDecisions(h.bot.context, { graceMs: 0 })).toMatchObject({ delivered: 0, gone: 0, retrying: 0 });
  });
});
