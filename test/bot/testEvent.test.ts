/**
 * Falcosidekick's test event (its POST /test, rule "Test rule") checks the wiring from the
 * channel: the bot posts a "wiring works" message, opens no incident and starts no playbook.
 * Falco's own log lines shipped with its alerts (a Fluent Bit tail of the Falco container) are
 * skipped, not refused. End to end: moto (SQS, Step Functions), the fake Discord, the real bot.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/aws.js';
import { createBotHarness, parseLogs, type BotHarness } from '../helpers/botHarness.js';

let h: BotHarness;

beforeAll(async () => {
  h = await createBotHarness();
  await h.start();
}, 120_000);

afterAll(async () => {
  await h?.close();
});

const testEvent = () => ({
  ...(JSON.parse(readFileSync(new URL('../fixtures/falco-stock/falcosidekick-test.json', import.meta.url), 'utf8')) as Record<string, unknown>),
  uuid: randomUUID(),
});

describe("Falcosidekick's test event", () => {
  it('posts "wiring works" with the cluster, and opens no incident and no playbook', async () => {
    const before = (await h.executions()).length;
    const messageId = await h.send(testEvent());
    const posted = await h.waitForChannelMessage((m) => (m.embeds[0]?.title ?? '').startsWith('✅ Wiring works'), 60_000);
    expect(posted.embeds[0]!.fields).toEqual(expect.arrayContaining([{ name: 'Cluster', value: '`prod-eks`', inline: true }]));
    expect(posted.components ?? []).toEqual([]);
    await waitFor(async () => ((await h.queueDepth(h.queueUrl)) === 0 ? true : undefined), { timeoutMs: 30_000, what: 'the test event to leave the queue' });
    expect((await h.executions()).length).toBe(before);
    const logged = parseLogs(h.logs).find((l) => l.messageId === messageId && l.message === 'Falcosidekick test event: the wiring works');
    expect(logged).toMatchObject({ rule: 'Test rule', from: 'falcosidekick' });
  });

  it("skips Falco's start-up lines that Fluent Bit ships with its alerts, without refusing them", async () => {
    const messageId = await h.send({ log: 'Fri Nov 20 03:10:01 2026: Falco version: 0.41.3 (x86_64)', stream: 'stderr', kubernetes: { host: h.node.name, pod_name: 'falco-x7k2p' } });
    const logged = await waitFor(async () => parseLogs(h.logs).find((l) => l.messageId === messageId && l.message === 'not an event: skipped'), { timeoutMs: 30_000, what: 'the skip log line' });
    expect(logged.reason).toMatch(/Falco version: 0\.41\.3/);
    expect(parseLogs(h.logs).some((l) => l.messageId === messageId && l.message === 'event refused')).toBe(false);
  });
});
