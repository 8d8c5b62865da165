/**
 * SENTINEL_AGGREGATE_EVENTS=counters end to end: events that differ only in a counter are one
 * incident with one playbook run; the same activity on another pod is its own incident. moto (SQS,
 * Step Functions running the Falco playbook), the fake Discord.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aggregationKey } from '../../src/handlers/aggregationKey.js';
import { incidentIdFor } from '../../src/stores/incidentStore.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import { waitFor } from '../support/aws.js';
import { createBotHarness, type BotHarness } from '../helpers/botHarness.js';
import { falcoJson } from '../helpers/events.js';

let h: BotHarness;
beforeAll(async () => {
  h = await createBotHarness();
  await h.start({ SENTINEL_AGGREGATE_EVENTS: 'counters' });
}, 180_000);
afterAll(async () => {
  await h?.close();
});

describe('SENTINEL_AGGREGATE_EVENTS=counters', () => {
  it('counts events that differ only in a counter as one incident with one execution; another pod is another incident', async () => {
    const time = new Date().toISOString();
    const probe = (seq: number, pod = 'agg-web-1') =>
      falcoJson({ rule: 'Aggregation probe', priority: 'Warning', output: `probe (cmdline=probe --seq ${seq})`, fields: { 'k8s.pod.name': pod, 'k8s.ns.name': 'dvwa', 'proc.cmdline': `probe --seq ${seq}` }, hostname: h.node.name, time });
    const events = [probe(1), probe(2), probe(3), probe(40), probe(500), probe(1, 'agg-web-2')];
    await h.sendMany(events);
    const keyOf = (e: unknown) => {
      const t = triageEvent(e, loadPlaybookConfig(undefined));
      if (!t.ok) throw new Error(t.error);
      return aggregationKey(t.result, 'counters');
    };
    const one = incidentIdFor(keyOf(events[0]), new Date(time));
    const other = incidentIdFor(keyOf(events[5]), new Date(time));
    expect(one).not.toBe(other);
    await waitFor(async () => ((await h.bot.context.incidents.get(one))?.count === 5 ? true : undefined), { timeoutMs: 60_000, what: 'five events on one incident' });
    await waitFor(async () => ((await h.bot.context.incidents.get(other))?.status === 'done' ? true : undefined), { timeoutMs: 90_000, what: 'the other pod reported' });
    await waitFor(async () => ((await h.bot.context.incidents.get(one))?.status === 'done' ? true : undefined), { timeoutMs: 90_000, what: 'the aggregated incident reported' });
    expect((await h.bot.context.incidents.get(other))?.count).toBe(1);
    // Every event is kept with its incident; one execution each.
    expect((await h.bot.context.incidents.readEvents(one)).length).toBe(5);
    const names = [(await h.bot.context.incidents.get(one))!.executionName, (await h.bot.context.incidents.get(other))!.executionName];
    const executions = (await h.executions()).filter((e) => names.includes(e.name));
    expect(executions).toHaveLength(2);
  });
});
