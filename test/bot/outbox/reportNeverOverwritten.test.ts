/**
 * One ordered writer per incident message: once the report is shown, nothing of an earlier kind
 * (the "⏳ Running" incident view a counter edit would render) can replace it; a repeat after the
 * report only updates the counter inside the report.
 *
 * The race this reproduces (issue 15): repeats of an incident arrive about 40 ms apart while its
 * playbook runs; the first repeat's counter edit goes out at once, the later ones are held for the
 * edit interval (the production default, 5 s); the playbook ends and the report replaces the
 * incident message within that interval; then the held counter edit replaced the report with
 * "⏳ Running (seen 4 times)". End to end: moto (SQS, Step Functions running the Falco playbook),
 * the fake Discord, the fake Kubernetes API.
 */
import type { APIEmbed, APIMessage } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../support/aws.js';
import { artifactExecEvent, createBotHarness, type BotHarness } from '../../helpers/botHarness.js';

let h: BotHarness;

beforeAll(async () => {
  h = await createBotHarness();
  await h.start({ SENTINEL_EDIT_INTERVAL_SECONDS: '5' });
}, 180_000);

afterAll(async () => {
  await h?.close();
});

const field = (embed: APIEmbed | undefined, name: string) => embed?.fields?.find((f) => f.name === name)?.value;
const isApproval = (m: APIMessage) => (m.components?.length ?? 0) > 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function forPod(tag: string) {
  return (m: APIMessage) => field(m.embeds[0], 'Pod') === `\`web-${tag}\``;
}

describe('the incident message is written by one ordered writer', () => {
  it('three repeats ~40 ms apart while the playbook runs, then the report: the report stays, and shows the count', async () => {
    const tag = 'overwrite-race';
    const event = artifactExecEvent(h.node.name, { tag });
    await h.send(event);
    const incident = await h.waitForChannelMessage((m) => !isApproval(m) && forPod(tag)(m), 60_000);
    const approval = await h.waitForChannelMessage((m) => isApproval(m) && forPod(tag)(m), 60_000);
    const incidentId = /incident (inc-[0-9a-f]+)/.exec(incident.embeds[0]?.footer?.text ?? '')![1]!;

    // Three repeats about 40 ms apart, while the playbook waits for the decision.
    for (let i = 0; i < 3; i += 1) {
      await h.send(event);
      await sleep(40);
    }
    await waitFor(async () => ((await h.bot.context.incidents.get(incidentId))?.count === 4 ? true : undefined), { what: 'the three repeats counted' });

    // Allow ends the playbook at once (it only records the incident): the report follows.
    const customId = (approval.components![0] as { components: { custom_id: string }[] }).components[0]!.custom_id;
    expect(customId).toMatch(/:allow$/);
    const click = h.discord.clickButton({ userId: h.users.alice, messageId: approval.id, customId });
    expect((await click.waitForResponse()).type).toBe(6);
    await waitFor(async () => (h.discord.message(incident.id)?.embeds[0]?.title?.startsWith('Report: ') ? true : undefined), {
      timeoutMs: 90_000,
      what: 'the report on the incident message',
    });
    const reportedAt = Date.now();

    // Longer than the edit interval: any counter edit held back has gone out by now.
    await sleep(6_500);
    const shown = h.discord.message(incident.id)!;
    expect(shown.embeds[0]?.title).toMatch(/^Report: /);
    expect(field(shown.embeds[0], 'Status')).toBeUndefined();
    // Every edit of the message since the report landed kept it a report.
    const later = h.discord.calls((c) => c.method === 'PATCH' && c.path === `/channels/${h.channelId}/messages/${incident.id}` && c.at >= reportedAt);
    for (const edit of later) expect((edit.body as { embeds: APIEmbed[] }).embeds[0]?.title).toMatch(/^Report: /);

    // A repeat after the report updates only the counter inside the report.
    await h.send(event);
    await waitFor(async () => ((await h.bot.context.incidents.get(incidentId))?.count === 5 ? true : undefined), { what: 'the late repeat counted' });
    const updated = await waitFor(
      async () => {
        const m = h.discord.message(incident.id);
        return field(m?.embeds[0], 'Repeats') === 'seen 5 times' ? m : undefined;
      },
      { timeoutMs: 15_000, what: 'the count inside the report' },
    );
    expect(updated.embeds[0]?.title).toMatch(/^Report: /);
    expect(updated.embeds[0]?.description).toMatch(/✅ completed/);
  });
});
