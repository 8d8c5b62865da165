/**
 * Outages lose nothing. While Discord answers every message write with 5xx and then 429, the
 * approval request and the report a playbook sends are recorded in the outbox and their SQS
 * messages deleted; nothing goes to a DLQ, however long it lasts; the approval keeps its own
 * deadline (the playbook waits for it); when Discord answers again, each message is posted once
 * and the decision still resumes the playbook.
 *
 * The schedule is compressed, not simulated: the outage (45 s) outlasts every delivery SQS allows
 * a message here (2 receives × 10 s visibility), which is what sent approval requests to the DLQ
 * before a ten-minute outage was over; nothing in the outbox depends on how long it lasts (its
 * back-off tops out at 30 s). End to end: moto (SQS with DLQs, Step Functions running the Falco
 * playbook, EC2, S3), the fake Discord with injected faults, the fake Kubernetes API.
 */
import { randomBytes } from 'node:crypto';
import type { APIEmbed, APIMessage } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../support/aws.js';
import { artifactExecEvent, createBotHarness, parseLogs, POD_NAME, POD_NAMESPACE, type BotHarness } from '../../helpers/botHarness.js';
import { fluentBitLine, reverseShellLine } from '../../helpers/events.js';

let h: BotHarness;

beforeAll(async () => {
  h = await createBotHarness({ maxReceiveCount: 2, queueVisibilitySeconds: 10 });
  await h.start({ SENTINEL_SQS_VISIBILITY_SECONDS: '10' });
}, 180_000);

afterAll(async () => {
  await h?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const field = (embed: APIEmbed | undefined, name: string) => embed?.fields?.find((f) => f.name === name)?.value;
/** Every message write in any channel or thread: create, edit, thread from a message. */
const WRITES = /^\/channels\/\d+\/messages(\/\d+(\/threads)?)?$/;

describe('Discord failing (5xx, then 429) for longer than SQS keeps a message', () => {
  it('the approval request and the report are recorded, none dead-lettered, and posted once Discord is back; the approval keeps its deadline and still decides', { timeout: 300_000 }, async () => {
    const tag = 'outage-ask';
    const ip = `198.51.100.${10 + (randomBytes(1)[0]! % 200)}`;
    const outageStart = Date.now();
    const unavailable = h.discord.injectServerError({ path: WRITES, status: 503, times: 1_000_000 });

    // During the outage: an incident whose playbook asks for a decision, and one that runs to its report.
    await h.send(artifactExecEvent(h.node.name, { tag }));
    await h.send(fluentBitLine(reverseShellLine({ ip, pod: POD_NAME, ns: POD_NAMESPACE }), { host: h.node.name }));

    const pending = await waitFor(async () => (await h.bot.context.approvals.listPending()).find((r) => r.proposedAction.action === 'isolate-node'), {
      timeoutMs: 60_000,
      what: 'the approval request recorded',
    });
    const asked = await waitFor(
      async () => parseLogs(h.logs).find((l) => l.message === 'approval request recorded; it is posted ahead of everything else waiting for the channel' && l.approvalId === pending.approvalId),
      { timeoutMs: 30_000, what: 'the approval request recorded in the outbox' },
    );
    const shellIncident = await waitFor(
      async () => {
        const logs = parseLogs(h.logs).filter((l) => l.message === 'playbook started' && typeof l.incidentId === 'string' && l.incidentId !== pending.incidentId);
        for (const l of logs) {
          const s = await h.bot.context.incidents.get(String(l.incidentId));
          if (s?.status === 'done') return s;
        }
        return undefined;
      },
      { timeoutMs: 90_000, what: 'the reverse shell reported (recorded)' },
    );
    // Both queues are empty: each message was deleted once what it asked for was recorded.
    await waitFor(async () => ((await h.queueDepth(h.queueUrl)) + (await h.queueDepth(h.controlQueueUrl)) === 0 ? true : undefined), { timeoutMs: 60_000, what: 'both queues drained' });

    // 5xx for 30 s from the start, then 429s for 15 s more: longer than SQS keeps any message here.
    await sleep(Math.max(0, outageStart + 30_000 - Date.now()));
    unavailable.cancel();
    const limited = h.discord.injectRateLimit({ path: WRITES, times: 1_000_000, retryAfter: 1 });
    await sleep(15_000);
    limited.cancel();
    const outageEnd = Date.now();
    expect(unavailable.hits + limited.hits).toBeGreaterThan(0);
    expect(h.discord.calls((c) => WRITES.test(c.path) && c.status === 200 && c.at < outageEnd - 15_000)).toEqual([]);
    expect(parseLogs(h.logs).some((l) => l.message === 'Discord did not take a message; it stays in the outbox and is sent again')).toBe(true);

    // Discord is back: each recorded message is posted, once.
    const approval = await h.waitForChannelMessage((m) => (m.components?.length ?? 0) > 0 && JSON.stringify(m.embeds).includes(`web-${tag}`), 60_000);
    const report = await h.waitForChannelMessage((m) => (m.embeds[0]?.title ?? '').startsWith('Report: ') && JSON.stringify(m.embeds).includes(ip), 60_000);
    const about = (text: string) => h.discord.messages(h.channelId).filter((m: APIMessage) => JSON.stringify(m.embeds).includes(text));
    expect(about(`web-${tag}`).filter((m) => (m.components?.length ?? 0) > 0)).toHaveLength(1);
    expect(about(ip)).toHaveLength(1);
    expect(report.embeds[0]?.footer?.text).toContain(shellIncident.incidentId);
    await waitFor(async () => ((await h.bot.context.incidents.get(shellIncident.incidentId))?.messageId === report.id ? true : undefined), { what: 'the incident pointing at its report' });

    // Nothing was dead-lettered.
    expect(await h.queueDepth(h.dlqUrl)).toBe(0);
    expect(await h.queueDepth(h.controlDlqUrl)).toBe(0);

    // The approval keeps the deadline it was asked with (the playbook's), not one counted from the post.
    const deadline = Number(/^<t:(\d+):R>/.exec(field(approval.embeds[0], 'Deadline') ?? '')?.[1]) * 1000;
    expect(Math.abs(deadline - Date.parse(pending.deadline))).toBeLessThan(1000);
    expect(deadline).toBeLessThan(Date.parse(String(asked.timestamp)) + 3600_000 + 1000);
    await waitFor(async () => ((await h.bot.context.approvals.get(pending.approvalId))?.messageId === approval.id ? true : undefined), { what: 'the approval pointing at its message' });
    expect(await h.bot.context.audit.readAudit({ approvalId: pending.approvalId, outcome: 'posted' })).toHaveLength(1);

    // The playbook waited for it: Block still resumes it.
    const state = await h.bot.context.incidents.get(pending.incidentId);
    const executionArn = `${h.stateMachineArn.replace(':stateMachine:', ':execution:')}:${state!.executionName}`;
    expect((await h.describeExecution(executionArn)).status).toBe('RUNNING');
    const customId = (approval.components![0] as { components: { custom_id: string }[] }).components[1]!.custom_id;
    const click = h.discord.clickButton({ userId: h.users.alice, messageId: approval.id, customId });
    expect((await click.waitForResponse()).type).toBe(6);
    expect((await h.finished(executionArn, 120_000)).status).toBe('SUCCEEDED');
    await waitFor(async () => {
      const messageId = (await h.bot.context.incidents.get(pending.incidentId))?.messageId;
      return messageId && h.discord.message(messageId)?.embeds[0]?.title?.startsWith('Report: ') ? true : undefined;
    }, {
      timeoutMs: 60_000,
      what: 'the decided incident reported',
    });
  });
});
