/**
 * `sentinel dlq list|replay` through main(), configured only by the bot's environment, against the
 * bot itself: real SQS (moto) with both queues' DLQs, the fake Discord, the bot's data directory.
 * A message that keeps failing ends in its DLQ (maxReceiveCount 2), and the CLI shows why.
 *
 * moto 5.2.5 does not implement StartMessageMoveTask (test/README.md): here replay --all fails
 * with an explanation, and intake messages are re-sent (--id, --resend). The move task itself is
 * covered with mocks in dlqMoveTask.test.ts.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import { waitFor } from '../support/aws.js';
import { artifactExecEvent, createBotHarness, parseLogs, type BotHarness } from '../helpers/botHarness.js';
import { guardDutyEvent } from '../helpers/events.js';

async function withHarness(run: (h: BotHarness) => Promise<void>): Promise<void> {
  const h = await createBotHarness({ maxReceiveCount: 2 });
  try {
    await run(h);
  } finally {
    await h.close();
  }
}

async function sentinel(h: BotHarness | Record<string, string>, argv: string[]) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const env = 'env' in h && typeof h.env === 'function' ? h.env({ SENTINEL_LOG_LEVEL: 'error' }) : (h as Record<string, string>);
  const code = await main({ argv, env, stdin: Readable.from([]), stdout, stderr });
  return { code, out, err };
}

interface Listed {
  queues: {
    queue: string;
    dlqUrl: string;
    messages: { messageId: string; kind: string; incidentId?: string; sentAt?: string; receiveCount: number; lastError?: { reason: string; at: string; receiveCount: number } }[];
  }[];
}

async function list(h: BotHarness, queue: 'intake' | 'control'): Promise<Listed['queues'][number]['messages']> {
  const r = await sentinel(h, ['dlq', 'list', '--queue', queue, '--json']);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  const listed = JSON.parse(r.out) as Listed;
  expect(listed.queues.map((q) => q.queue)).toEqual([queue]);
  return listed.queues[0]!.messages;
}

/** Waits until SQS has moved `n` messages to the DLQ (GetQueueAttributes: nothing is received). */
const inDlq = (h: BotHarness, dlqUrl: string, n = 1) =>
  waitFor(async () => ((await h.queueDepth(dlqUrl)) >= n ? true : undefined), { timeoutMs: 180_000, intervalMs: 500, what: 'the failing message in the DLQ' });

describe.concurrent('sentinel dlq', { timeout: 300_000 }, () => {
  it('lists an event that kept failing with its last error; --dry-run changes nothing; replay re-sends it and the bot handles it', async () => {
    await withHarness(async (h) => {
      // The incident store cannot write (its directory is a file): every delivery of the event fails.
      const blocker = join(h.dataDir, 'incidents');
      await writeFile(blocker, 'not a directory\n');
      await h.start();
      const tag = `dlq-${Date.now().toString(36)}`;
      const event = artifactExecEvent(h.node.name, { tag });
      const messageId = await h.send(event);
      await inDlq(h, h.dlqUrl);

      const failures = parseLogs(h.logs).filter((l) => l.message === 'message handling failed; will retry' && l.messageId === messageId);
      expect(failures).toHaveLength(2);
      const messages = await list(h, 'intake');
      expect(messages).toHaveLength(1);
      const m = messages[0]!;
      expect(m).toMatchObject({ messageId, kind: 'event', lastError: { receiveCount: 2, reason: failures[1]!.reason } });
      expect(m.lastError!.reason).toMatch(/ENOTDIR/);
      expect(m.incidentId).toBeUndefined();
      expect(Date.parse(m.sentAt!)).toBeGreaterThan(Date.now() - 300_000);
      expect(m.receiveCount).toBeGreaterThanOrEqual(2);
      // The record says why, never what: no body.
      const stored = await readFile(join(h.dataDir, 'dead-letters', `${messageId}.json`), 'utf8');
      expect(stored).not.toContain(tag);
      expect(Object.keys(JSON.parse(stored) as object).sort()).toEqual(['at', 'kind', 'messageId', 'queue', 'reason', 'receiveCount']);

      const text = await sentinel(h, ['dlq', 'list', '--queue', 'intake']);
      expect(text.code).toBe(0);
      expect(text.out).toContain(`intake DLQ ${h.dlqUrl}: 1 message\n`);
      expect(text.out).toMatch(new RegExp(`  ${messageId}  event  -  sent \\S+  \\d+ receives\\n    last error \\(delivery 2, [^)]+\\): .*ENOTDIR`));
      expect(text.out).not.toContain(tag);

      // A dry run says what it would do and does nothing.
      const dry = await sentinel(h, ['dlq', 'replay', '--queue', 'intake', '--id', messageId, '--dry-run']);
      expect(dry.err).toBe('');
      expect(dry.code).toBe(0);
      expect(dry.out).toMatch(new RegExp(`^dry run: would re-send ${messageId} \\(event, last error: .*ENOTDIR.*\\) to the intake queue ${h.queueUrl} and delete it from the DLQ\\n$`));
      const dryAll = await sentinel(h, ['dlq', 'replay', '--queue', 'intake', '--all', '--resend', '--dry-run']);
      expect(dryAll.code).toBe(0);
      expect(dryAll.out).toContain('dry run: would re-send 1 message from the intake DLQ');
      expect(await h.queueDepth(h.dlqUrl)).toBe(1);
      expect(await h.queueDepth(h.queueUrl)).toBe(0);
      expect((await list(h, 'intake'))[0]).toMatchObject({ messageId, lastError: { reason: m.lastError!.reason } });

      // An id that is not there is a clear refusal.
      const missing = await sentinel(h, ['dlq', 'replay', '--queue', 'intake', '--id', '00000000-0000-0000-0000-000000000000']);
      expect(missing.code).toBe(2);
      expect(missing.err).toMatch(/no message 00000000-0000-0000-0000-000000000000 on the intake DLQ/);

      // The cause is fixed; the message goes back on the intake queue and the bot handles it.
      await rm(blocker);
      const replay = await sentinel(h, ['dlq', 'replay', '--queue', 'intake', '--id', messageId]);
      expect(replay.err).toBe('');
      expect(replay.code).toBe(0);
      const newId = new RegExp(`^re-sent ${messageId} \\(event, last error: .*\\) to the intake queue as (\\S+)\\n$`).exec(replay.out)?.[1];
      expect(newId).toBeDefined();
      expect(newId).not.toBe(messageId);
      expect(await h.queueDepth(h.dlqUrl)).toBe(0);
      const posted = await h.waitForChannelMessage((msg) => JSON.stringify(msg.embeds ?? []).includes(`web-${tag}`), 90_000);
      expect(posted.embeds?.length).toBeGreaterThan(0);
      expect((await h.executions()).length).toBe(1);
      // The old record went with the message; the re-sent one never failed.
      await expect(readFile(join(h.dataDir, 'dead-letters', `${messageId}.json`))).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(readFile(join(h.dataDir, 'dead-letters', `${newId}.json`))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await list(h, 'intake')).toEqual([]);
    });
  });

  it("lists a control message with its incident and last error, and never re-sends one by hand (it would lose the state machines' SenderId)", async () => {
    await withHarness(async (h) => {
      await h.start();
      const triaged = triageEvent(guardDutyEvent({ resourceType: 'S3Bucket', id: 'dlq-cli-finding' }), loadPlaybookConfig(undefined));
      if (!triaged.ok) throw new Error(triaged.error);
      // The incident the alert names cannot be read back (a corrupt state file): the alert handler
      // catches it and asks for a retry, every time. (Discord failing no longer does: the alert is
      // recorded in the outbox and sent when Discord is back.)
      const incidentId = `inc-dlq-cli-${Date.now().toString(36)}`;
      await mkdir(join(h.dataDir, 'incidents', 'incidents'), { recursive: true });
      await writeFile(join(h.dataDir, 'incidents', 'incidents', `${incidentId}.json`), '{"torn": ');
      const messageId = await h.sendControl({ kind: 'notify', incident: { incidentId, triage: triaged.result } });
      await inDlq(h, h.controlDlqUrl);

      const logged = parseLogs(h.logs).filter((l) => l.message === 'alert failed; will retry');
      expect(logged).toHaveLength(2);
      const [m, ...others] = await list(h, 'control');
      expect(others).toEqual([]);
      expect(m).toMatchObject({ messageId, kind: 'notify', incidentId, lastError: { receiveCount: 2, reason: logged[1]!.reason } });
      expect(m!.lastError!.reason).toMatch(/^Corrupt state at \S+\.json: not JSON/);
      // Both queues by default.
      const both = await sentinel(h, ['dlq', 'list']);
      expect(both.out).toContain(`intake DLQ ${h.dlqUrl}: 0 messages\n`);
      expect(both.out).toContain(`control DLQ ${h.controlDlqUrl}: 1 message\n`);
      expect(both.out).toContain(`  ${messageId}  notify  ${incidentId}  sent `);

      const one = await sentinel(h, ['dlq', 'replay', '--id', messageId]);
      expect(one.code).toBe(2);
      expect(one.err).toContain(`message ${messageId} is on the control queue's DLQ`);
      expect(one.err).toContain('would carry your SenderId');
      const resend = await sentinel(h, ['dlq', 'replay', '--queue', 'control', '--all', '--resend']);
      expect(resend.code).toBe(2);
      expect(resend.err).toMatch(/--resend needs --queue intake: control messages are only moved back by SQS's own redrive/);
      const dry = await sentinel(h, ['dlq', 'replay', '--queue', 'control', '--all', '--dry-run']);
      expect(dry.code).toBe(0);
      expect(dry.out).toBe(`dry run: would start SQS's redrive (StartMessageMoveTask) of about 1 message from ${h.controlDlqUrl} back to the control queue ${h.controlQueueUrl}\n`);
      const dryBoth = await sentinel(h, ['dlq', 'replay', '--all', '--dry-run']);
      expect(dryBoth.code).toBe(0);
      expect(dryBoth.out).toBe(`intake DLQ ${h.dlqUrl}: empty, nothing to move\n${dry.out}`);

      // moto lacks StartMessageMoveTask: the command fails, says so, and nothing moves.
      const all = await sentinel(h, ['dlq', 'replay', '--queue', 'control', '--all']);
      expect(all.code).toBe(1);
      expect(all.err).toMatch(/SQS StartMessageMoveTask from arn:aws:sqs:\S+ failed: .*does not implement StartMessageMoveTask \(moto 5\.2\.5 does not\).*control messages cannot/);
      expect(await h.queueDepth(h.controlDlqUrl)).toBe(1);
      expect(await h.queueDepth(h.controlQueueUrl)).toBe(0);
      expect((await list(h, 'control'))[0]).toMatchObject({ messageId, lastError: { reason: m!.lastError!.reason } });
    });
  });

  it('refuses what it cannot do, with the usage', async () => {
    {
      const h = { AWS_REGION: 'ap-northeast-2', SENTINEL_QUEUE_URL: 'http://127.0.0.1:9/123456789012/q', SENTINEL_LOG_LEVEL: 'error' };
      const none = await sentinel(h, ['dlq']);
      expect(none.code).toBe(2);
      expect(none.err).toMatch(/expected "list" or "replay"\nusage: sentinel dlq list/);
      const both = await sentinel(h, ['dlq', 'replay', '--all', '--id', 'abc']);
      expect(both.code).toBe(2);
      expect(both.err).toContain('replay needs exactly one of --id MESSAGE_ID or --all');
      const neither = await sentinel(h, ['dlq', 'replay']);
      expect(neither.err).toContain('replay needs exactly one of --id MESSAGE_ID or --all');
      const queue = await sentinel(h, ['dlq', 'list', '--queue', 'events']);
      expect(queue.code).toBe(2);
      expect(queue.err).toContain('--queue "events": expected intake or control');
      const badId = await sentinel(h, ['dlq', 'replay', '--id', '../../etc/passwd']);
      expect(badId.code).toBe(2);
      expect(badId.err).toContain('expected an SQS message id');
    }
  });
});
