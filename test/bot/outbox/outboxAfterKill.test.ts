/**
 * A message recorded in the outbox survives the bot's death: the bot (a process of its own, killed
 * with SIGKILL: no shutdown, no flush) records an approval request and an alert while Discord
 * refuses every write, and their SQS messages are deleted; the next bot on the same data directory
 * posts each exactly once. And the one crash a file cannot see (Discord made the post, the bot
 * died before recording it): the slot as that crash leaves it is posted again with the same nonce,
 * which Discord (enforce_nonce) answers with the first message, so the channel still has one.
 * moto (SQS, S3), the fake Discord, the bot through `sentinel start`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalIdFor } from '../../../src/handlers/approvalIdFor.js';
import { loadPlaybookConfig } from '../../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../../src/pipeline/triage/triageEvent.js';
import { waitFor } from '../../support/aws.js';
import { startBotProcess, type BotProcess } from '../../support/botProcess.js';
import { createBotHarness, type BotHarness } from '../../helpers/botHarness.js';
import { guardDutyEvent } from '../../helpers/events.js';

let h: BotHarness;
let child: BotProcess | undefined;

beforeAll(async () => {
  h = await createBotHarness({});
}, 180_000);

afterAll(async () => {
  await child?.kill();
  await h?.close();
});

const WRITES = /^\/channels\/\d+\/messages(\/\d+(\/threads)?)?$/;

function triaged(id: string) {
  const t = triageEvent(guardDutyEvent({ resourceType: 'S3Bucket', id }), loadPlaybookConfig(undefined));
  if (!t.ok) throw new Error(t.error);
  return t.result;
}

describe('SIGKILL between recording a message and posting it', () => {
  it('the next bot posts each recorded message exactly once', { timeout: 300_000 }, async () => {
    const refused = h.discord.injectServerError({ path: WRITES, status: 503, times: 1_000_000 });
    child = startBotProcess(h.env());
    await child.waitForOutput((l) => l.includes('"taking messages"'), 90_000);

    const incidentId = `inc-kill-${Date.now().toString(36)}`;
    const taskToken = `kill-${Date.now()}-0000-4000-8000-000000000000`;
    const approvalId = approvalIdFor(taskToken);
    await h.sendControl({ kind: 'notify', incident: { incidentId, triage: triaged('outbox-kill-alert') } });
    await h.sendControl({
      kind: 'approval-request',
      taskToken,
      incident: { incidentId: `${incidentId}-ask`, triage: triaged('outbox-kill-ask') },
      proposedAction: { action: 'isolate-node', input: { node: h.node.name } },
    });
    const outbox = join(h.dataDir, 'outbox');
    const alertFile = join(outbox, `incident.${incidentId}.json`);
    const approvalFile = join(outbox, `approval.${approvalId}.json`);
    // Recorded (on disk), and the SQS messages deleted, while Discord refuses everything.
    await waitFor(async () => ((await Promise.all([readFile(alertFile), readFile(approvalFile)]).catch(() => undefined)) ? true : undefined), {
      timeoutMs: 60_000,
      what: 'both messages recorded in the outbox',
    });
    await waitFor(async () => ((await h.queueDepth(h.controlQueueUrl)) === 0 ? true : undefined), { timeoutMs: 60_000, what: 'the control queue drained' });
    await child.kill();
    child = undefined;
    refused.cancel();
    expect(h.discord.calls((c) => WRITES.test(c.path) && c.status === 200)).toEqual([]);
    expect(refused.hits).toBeGreaterThan(0);

    // The next bot, on the same data directory.
    const bot = await h.start();
    const alert = await h.waitForChannelMessage((m) => JSON.stringify(m.embeds).includes('outbox-kill-alert'), 60_000);
    const approval = await h.waitForChannelMessage((m) => (m.components?.length ?? 0) > 0 && (m.embeds[0]?.footer?.text ?? '').includes(`${incidentId}-ask`), 60_000);
    await waitFor(async () => ((await bot.context.approvals.get(approvalId))?.messageId === approval.id ? true : undefined), { what: 'the approval record pointing at its message' });
    expect(await bot.context.audit.readAudit({ approvalId, outcome: 'posted' })).toHaveLength(1);

    // Posted once each.
    const about = (text: string) => h.discord.messages(h.channelId).filter((m) => JSON.stringify(m.embeds).includes(text));
    expect(about('outbox-kill-alert')).toHaveLength(1);
    expect(about(`${incidentId}-ask`)).toHaveLength(1);
    expect(h.discord.calls((c) => c.method === 'POST' && WRITES.test(c.path) && c.status === 200)).toHaveLength(2);

    // Posted by Discord, never recorded as posted (the crash right after Discord's answer): as that
    // crash leaves the file, the next bot posts again with the slot's nonce, and Discord answers
    // with the message it made then.
    await h.stop();
    const slot = JSON.parse(await readFile(alertFile, 'utf8')) as Record<string, unknown>;
    expect(slot.message).toEqual({ channelId: h.channelId, messageId: alert.id });
    const { message: _m, shown: _s, ...beforeTheAnswer } = slot;
    await writeFile(alertFile, JSON.stringify({ ...beforeTheAnswer, hooked: false }));
    const seq = h.discord.lastSeq;
    await h.start();
    const again = await h.discord.waitForCall((c) => c.method === 'POST' && c.path === `/channels/${h.channelId}/messages` && c.status === 200, 60_000, seq);
    expect((again.response as { id: string }).id).toBe(alert.id);
    expect((again.body as { nonce?: string; enforce_nonce?: boolean }).enforce_nonce).toBe(true);
    expect((again.body as { nonce?: string }).nonce).toBe(slot.nonce);
    expect(about('outbox-kill-alert')).toHaveLength(1);
    await waitFor(async () => ((JSON.parse(await readFile(alertFile, 'utf8')) as { message?: { messageId: string } }).message?.messageId === alert.id ? true : undefined), {
      what: 'the slot recording the message again',
    });
  });
});
