/**
 * SIGKILL between the approval's post and the click: the bot (a process of its own, `sentinel
 * start`) posts an approval request and is killed with SIGKILL (no shutdown, no flush, its SQS
 * messages possibly still in flight); a new bot on the same data directory takes the click, and the
 * decision resumes the playbook. Nothing is posted twice, nothing is dead-lettered.
 *
 * End to end: moto (SQS with DLQs, Step Functions running the Falco playbook, EC2, S3), the fake
 * Discord, the fake Kubernetes API. test/bot/botRestart.test.ts covers the graceful restart; this is
 * the crash.
 */
import type { APIEmbed } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/aws.js';
import { startBotProcess, type BotProcess } from '../support/botProcess.js';
import { artifactExecEvent, createBotHarness, type BotHarness } from '../helpers/botHarness.js';

let h: BotHarness;
let child: BotProcess | undefined;

beforeAll(async () => {
  h = await createBotHarness({});
}, 180_000);

afterAll(async () => {
  await child?.kill();
  await h?.close();
});

const field = (embed: APIEmbed | undefined, name: string) => embed?.fields?.find((f) => f.name === name)?.value;

describe('SIGKILL between the approval post and the click', () => {
  it('the restarted bot resolves the click: Block resumes the playbook, the approval is posted and decided once', { timeout: 300_000 }, async () => {
    const tag = `kill-${Date.now().toString(36)}`;
    child = startBotProcess(h.env());
    await child.waitForOutput((l) => l.includes('"taking messages"'), 90_000);

    await h.send(artifactExecEvent(h.node.name, { tag }));
    const approval = await h.waitForChannelMessage((m) => (m.components?.length ?? 0) > 0 && JSON.stringify(m.embeds).includes(`web-${tag}`), 90_000);
    const pid = child.pid;
    await child.kill();
    child = undefined;
    expect(() => process.kill(pid, 0)).toThrow();
    await waitFor(async () => (h.discord.gateway.connectedSessions === 0 ? true : undefined), { timeoutMs: 30_000, what: 'the dead bot gone from the gateway' });

    const customId = (approval.components![0] as { components: { custom_id: string }[] }).components[1]!.custom_id;
    const approvalId = /^apv:([^:]+):block$/.exec(customId)![1]!;
    const incidentId = /incident (inc-[0-9a-f]+)/.exec(approval.embeds[0]!.footer!.text)![1]!;

    // A new bot, same data directory: it knows the approval, pending, from the store the dead one wrote.
    const bot = await h.start();
    expect((await bot.context.approvals.get(approvalId))?.status).toBe('pending');
    const { executionName } = (await bot.context.incidents.get(incidentId))!;
    const executionArn = `${h.stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName}`;
    expect((await h.describeExecution(executionArn)).status).toBe('RUNNING');

    const click = h.discord.clickButton({ userId: h.users.alice, messageId: approval.id, customId });
    expect((await click.waitForResponse()).type).toBe(6);
    const edit = await click.waitForEdit(undefined, 30_000);
    expect(field((edit.body as { embeds: APIEmbed[] }).embeds[0], 'Decision')).toMatch(new RegExp(`^⛔ Blocked by <@${h.users.alice}>`));

    const done = await h.finished(executionArn, 120_000);
    expect(done.status).toBe('SUCCEEDED');
    const output = JSON.parse(done.output!) as { decision: { action: string; by: string }; results: Record<string, { status: string }> };
    expect(output.decision).toMatchObject({ action: 'block', by: `discord:${h.users.alice}` });
    expect(output.results.isolateNode?.status).toBe('succeeded');
    expect((await bot.context.approvals.get(approvalId))?.status).toBe('decided');

    // The report replaces the incident message; one incident message and one approval in the channel.
    await waitFor(
      async () => {
        const s = await bot.context.incidents.get(incidentId);
        return s?.messageId && h.discord.message(s.messageId)?.embeds[0]?.title?.startsWith('Report: ') ? true : undefined;
      },
      { timeoutMs: 60_000, what: 'the report' },
    );
    const about = h.discord.messages(h.channelId).filter((m) => JSON.stringify(m.embeds).includes(`web-${tag}`));
    expect(about.filter((m) => (m.components?.length ?? 0) > 0)).toHaveLength(1);
    expect(about.filter((m) => (m.components?.length ?? 0) === 0)).toHaveLength(1);
    const audit = await bot.context.audit.readAudit({ approvalId });
    expect(audit.filter((e) => e.outcome === 'posted')).toHaveLength(1);
    expect(audit.filter((e) => e.outcome === 'decided')).toHaveLength(1);
    expect(audit.find((e) => e.what === 'containment-approved')).toMatchObject({ outcome: 'run', detail: { action: 'isolate-node', by: [`discord:${h.users.alice}`] } });

    // Whatever the dead bot had in flight was handled again by the new one, not dead-lettered.
    await waitFor(async () => ((await h.queueDepth(h.queueUrl)) + (await h.queueDepth(h.controlQueueUrl)) === 0 ? true : undefined), { timeoutMs: 60_000, what: 'both queues drained' });
    expect(await h.queueDepth(h.dlqUrl)).toBe(0);
    expect(await h.queueDepth(h.controlDlqUrl)).toBe(0);
  });
});
