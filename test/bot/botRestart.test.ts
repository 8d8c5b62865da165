/**
 * The bot as a process: health and metrics, a restart between an approval and its click, and what
 * happens to messages it cannot read or cannot handle (deleted, or retried into the DLQ).
 * Real discord.js against the fake Discord, real AWS SDK against moto, real client-node against
 * the fake Kubernetes API. Each test has its own harness; they run concurrently (most of their
 * time is spent waiting on SQS visibility timeouts and Step Functions).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { APIEmbed } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import { waitFor } from '../support/aws.js';
import { artifactExecEvent, createBotHarness, parseLogs, peekQueue, type BotHarness } from '../helpers/botHarness.js';
import { guardDutyEvent } from '../helpers/events.js';

async function withHarness(options: Parameters<typeof createBotHarness>[0], run: (h: BotHarness) => Promise<void>): Promise<void> {
  const h = await createBotHarness(options);
  try {
    await run(h);
  } finally {
    await h.close();
  }
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
}

const field = (embed: APIEmbed | undefined, name: string) => embed?.fields?.find((f) => f.name === name)?.value;

describe.concurrent('the bot process', { timeout: 300_000 }, () => {
  it('is ready while connected, exports its metrics, is not ready once stopping, and closes the server when stopped', async () => {
    await withHarness({}, async (h) => {
      const bot = await h.start();
      const ready = await get(`${bot.ops.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(JSON.parse(ready.text)).toEqual({ ready: true, checks: { discord: true, 'sqs-intake': true, 'sqs-control': true } });
      expect((await get(`${bot.ops.url}/healthz`)).status).toBe(200);

      // Something handled, so the counter has a sample.
      await h.send('not json at all');
      const metrics = await waitFor(async () => {
        const m = await get(`${bot.ops.url}/metrics`);
        return m.text.includes('sentinel_messages_handled_total{kind="unknown",outcome="refused"} 1') ? m : undefined;
      });
      expect(metrics.status).toBe(200);
      expect(metrics.text).toContain('# TYPE sentinel_messages_handled_total counter');
      expect(metrics.text).toContain('# TYPE sentinel_approvals_pending gauge');
      // The Discord outbox's backlog, per lane, read at each scrape.
      expect(metrics.text).toMatch(/^sentinel_discord_outbox_waiting\{lane="approval"\} \d+$/m);
      // Node's default metrics keep their standard names, for the usual dashboards.
      expect(metrics.text).toMatch(/^process_cpu_user_seconds_total /m);
      expect(metrics.text).toMatch(/^nodejs_heap_size_used_bytes /m);
      expect(metrics.text).not.toMatch(/^sentinel_(process|nodejs)_/m);

      const stopping = bot.stop();
      const during = await get(`${bot.ops.url}/readyz`);
      expect(during.status).toBe(503);
      expect(JSON.parse(during.text)).toMatchObject({ ready: false, checks: { 'sqs-intake': false, 'sqs-control': false } });
      await stopping;
      await expect(fetch(`${bot.ops.url}/readyz`)).rejects.toThrow();
      expect(h.discord.gateway.connectedSessions).toBe(0);
    });
  });

  it('stopping never leaves a message half handled or lost: handled completely, or delivered again', async () => {
    await withHarness({}, async (h) => {
      await h.start();
      const playbooks = loadPlaybookConfig(undefined);
      const triaged = triageEvent(guardDutyEvent({ resourceType: 'S3Bucket', id: 'stop-test-finding' }), playbooks);
      if (!triaged.ok) throw new Error(triaged.error);
      // The bot is in a long poll (1 s); the message arrives during it, and the stop right after.
      await h.sendControl({ kind: 'notify', incident: { incidentId: 'inc-stop-test', triage: triaged.result } });
      await h.stop();

      const failures = parseLogs(h.logs).filter((l) => l.level === 'error');
      expect(failures).toEqual([]);
      const posted = h.posted().length;
      const attrs = await h.aws.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: h.controlQueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
      );
      const visible = Number(attrs.Attributes?.ApproximateNumberOfMessages);
      const inFlight = Number(attrs.Attributes?.ApproximateNumberOfMessagesNotVisible);
      // Either it was handled completely (alert posted, message deleted), or not handled at all: still
      // on the queue, or, when the stop cut off the receive that was carrying it, hidden until its
      // visibility timeout ends and then delivered again. Never half handled, never lost.
      if (posted === 1) expect([visible, inFlight]).toEqual([0, 0]);
      else {
        expect(posted).toBe(0);
        expect(visible + inFlight).toBe(1);
        await waitFor(
          async () => {
            const again = await h.aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: h.controlQueueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
            return Number(again.Attributes?.ApproximateNumberOfMessages) === 1 ? true : undefined;
          },
          { timeoutMs: 30_000, what: 'the message to be visible again' },
        );
      }
    });
  });

  it('a restart between posting an approval and the click still applies the decision', async () => {
    await withHarness({}, async (h) => {
      const first = await h.start();
      await h.send(artifactExecEvent(h.node.name, { tag: 'restart' }));
      const approval = await h.waitForChannelMessage((m) => (m.components?.length ?? 0) > 0, 60_000);
      const customId = (approval.components![0] as { components: { custom_id: string }[] }).components[1]!.custom_id;
      const approvalId = /^apv:([^:]+):block$/.exec(customId)![1]!;
      const incidentId = /incident (inc-[0-9a-f]+)/.exec(approval.embeds[0]!.footer!.text)![1]!;
      const { executionName } = (await first.context.incidents.get(incidentId))!;
      const executionArn = `${h.stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName}`;

      await h.stop();
      expect(h.discord.gateway.connectedSessions).toBe(0);
      const second = await h.start();
      expect(second).not.toBe(first);
      expect(h.discord.gateway.connectedSessions).toBe(1);

      const click = h.discord.clickButton({ userId: h.users.alice, messageId: approval.id, customId });
      expect((await click.waitForResponse()).type).toBe(6);
      const edit = await click.waitForEdit(undefined, 30_000);
      expect(field((edit.body as { embeds: APIEmbed[] }).embeds[0], 'Decision')).toMatch(new RegExp(`^⛔ Blocked by <@${h.users.alice}>`));

      const done = await h.finished(executionArn, 90_000);
      expect(done.status).toBe('SUCCEEDED');
      const output = JSON.parse(done.output!) as { decision: { action: string; by: string }; results: Record<string, { status: string }> };
      expect(output.decision).toMatchObject({ action: 'block', by: `discord:${h.users.alice}` });
      expect(output.results.isolateNode?.status).toBe('succeeded');
      expect((await second.context.approvals.get(approvalId))?.status).toBe('decided');
      // The audit log on the shared data directory has both processes' entries: the approval posted,
      // decided, and the isolation it approved run as the responder (containment-approved).
      const audit = await second.context.audit.readAudit({ approvalId });
      expect(audit.map((e) => e.outcome)).toEqual(['posted', 'decided', 'run']);
      expect(audit[2]).toMatchObject({ what: 'containment-approved', detail: { action: 'isolate-node', by: [`discord:${h.users.alice}`] } });
    });
  });

  it('deletes unreadable and unknown messages without retrying them; a message that keeps failing ends in the DLQ', async () => {
    await withHarness({ maxReceiveCount: 2 }, async (h) => {
      const bot = await h.start();
      const playbooks = loadPlaybookConfig(undefined);
      const triaged = triageEvent(guardDutyEvent({ resourceType: 'S3Bucket', id: 'dlq-test-finding' }), playbooks);
      if (!triaged.ok) throw new Error(triaged.error);
      // The incident the alert names cannot be read back (its state file is corrupt): every delivery
      // fails. (A Discord outage no longer does: the alert is recorded in the outbox and sent later.)
      await mkdir(join(h.dataDir, 'incidents', 'incidents'), { recursive: true });
      await writeFile(join(h.dataDir, 'incidents', 'incidents', 'inc-dlq-test.json'), '{"torn": ');

      const garbage = await h.send('{"this is": not json');
      const unknown = await h.send({ kind: 'mystery', taskToken: 'must-never-be-logged-1234' });
      const invalid = await h.send({ kind: 'task', action: 'isolate-node' });
      await h.sendControl({ kind: 'notify', incident: { incidentId: 'inc-dlq-test', triage: triaged.result } });

      const dropped = await waitFor(async () => {
        const lines = parseLogs(h.logs).filter((l) => l.message === 'unreadable message dropped');
        return lines.length >= 3 ? lines : undefined;
      });
      expect(new Map(dropped.map((l) => [l.messageId, l.reason]))).toEqual(
        new Map([
          [garbage, expect.stringMatching(/^body is not JSON/)],
          [unknown, 'unknown message kind "mystery"'],
          [invalid, expect.stringMatching(/^invalid task message: taskToken: .*incidentId: /)],
        ]),
      );
      expect(dropped.every((l) => l.receiveCount === 1)).toBe(true);
      expect(h.logs.join('\n')).not.toContain('must-never-be-logged-1234');

      // The failing one is handled, fails, comes back after the visibility timeout, fails again,
      // then SQS moves it to the DLQ (maxReceiveCount 2).
      const dlq = await waitFor(async () => {
        const bodies = await peekQueue(h.aws, h.controlDlqUrl);
        return bodies.length ? bodies : undefined;
      }, { timeoutMs: 180_000, intervalMs: 500, what: 'the failing message in the DLQ' });
      expect(dlq.map((b) => (JSON.parse(b) as { incident: { incidentId: string } }).incident.incidentId)).toEqual(['inc-dlq-test']);
      const failures = parseLogs(h.logs).filter((l) => l.message === 'alert failed; will retry');
      expect(failures.length).toBe(2);
      expect(String(failures[0]!.reason)).toMatch(/^Corrupt state at \S+inc-dlq-test\.json: not JSON/);
      expect(h.posted()).toEqual([]);
      // Nothing is left on the queue: unreadable ones were deleted, the failing one moved.
      expect(await h.queueDepth(h.queueUrl)).toBe(0);
      expect(await h.queueDepth(h.controlQueueUrl)).toBe(0);
      expect(parseLogs(h.logs).filter((l) => l.message === 'unreadable message dropped')).toHaveLength(3);
      const metrics = await get(`${bot.ops.url}/metrics`);
      expect(metrics.text).toContain('sentinel_messages_failed_total{kind="notify"} 2');
    });
  });
});
