/**
 * An incident whose first handling died after it was recorded and before its playbook started or
 * its message was recorded (a crash, or a handler that failed until the DLQ) is finished by the
 * next event of it: a replay from the DLQ carries a new SQS message id and counts as a repeat, and
 * a repeat of a cut-short incident starts its playbook (idempotently, by name) and shows it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aggregationKey } from '../../src/handlers/aggregationKey.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import { waitFor } from '../support/aws.js';
import { artifactExecEvent, createBotHarness, type BotHarness } from '../helpers/botHarness.js';

let h: BotHarness;
beforeAll(async () => {
  h = await createBotHarness();
  await h.start();
}, 120_000);
afterAll(async () => {
  await h?.close();
});

describe('a cut-short incident', () => {
  it('is finished by its next event: the playbook starts and the incident message goes out', async () => {
    const event = artifactExecEvent(h.node.name, { tag: 'cutshort' });
    const triaged = triageEvent(event, loadPlaybookConfig(undefined));
    if (!triaged.ok) throw new Error(triaged.error);
    // The first delivery got as far as recording the incident, then died.
    const ctx = h.bot.context;
    const first = await ctx.incidents.observe({ dedupeKey: aggregationKey(triaged.result, ctx.bot.aggregateEvents), messageId: 'm-died-before-start', at: new Date(), event, windowMs: ctx.bot.stormWindowMs });
    expect(first.outcome).toBe('new');
    expect(first.incident.executionName).toBeUndefined();

    // The replay: same event, another SQS message id.
    await h.send(event);
    const started = await waitFor(async () => {
      const state = await ctx.incidents.get(first.incident.incidentId);
      return state?.executionName && state.messageId ? state : undefined;
    }, { timeoutMs: 60_000, what: 'the playbook started and the message posted' });
    expect(started.count).toBe(2);
    const executions = (await h.executions()).filter((e) => e.name === started.executionName);
    expect(executions).toHaveLength(1);
    expect(h.logs.some((l) => l.includes('the first handling of this incident was cut short'))).toBe(true);
  });
});
