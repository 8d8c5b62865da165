/**
 * A repeat of an incident handled while the incident's first event is still in flight in the same
 * process (its StartExecution slow under load) is only counted: it is not taken for a first
 * handling that was cut short (no warning, no second start). When the first handling really fails,
 * the repeat still finishes it, with the warning.
 *
 * Real handlers and file stores (test/helpers/intakeContext.ts); Step Functions is the helper's
 * in-memory engine behind a deliberately held wrapper: its start waits until the test lets it go
 * (or fails once), so "the first event is still waiting on StartExecution" is a state the test
 * holds, not a race it hopes for. Messages go in through dispatchMessage, as the intake hands them
 * over (each handled with its own copy of the context). Discord is not reached: the outbox is not
 * started, and what the handler records in it is read back with `has`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { dispatchMessage } from '../../src/handlers/dispatchMessage.js';
import type { IntakeMessage } from '../../src/handlers/ports/intake.js';
import type { HandlerContext } from '../../src/handlers/context.js';
import type { DiscordPort } from '../../src/handlers/ports/discordPort.js';
import type { PlaybookEngine } from '../../src/handlers/ports/playbookEngine.js';
import { incidentSlotKey } from '../../src/handlers/ports/outboxSlot.js';
import { waitFor } from '../support/aws.js';
import { createIntakeContext, type IntakeContext } from '../helpers/intakeContext.js';
import { falcoJson } from '../helpers/events.js';

const unreachable = (): never => {
  throw new Error('Discord is not part of this test');
};
const port: DiscordPort = { post: unreachable, edit: unreachable, thread: unreachable, fetchEmbeds: unreachable, isReady: () => false };

let h: IntakeContext | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** The intake context with a StartExecution the test holds: `release()` lets the calls waiting go on; `failNext` makes the next one fail. */
async function heldEngine() {
  h = await createIntakeContext({ port });
  const inner = h.ctx.engine;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const calls: string[] = [];
  let failNext = false;
  const engine: PlaybookEngine = {
    ...inner,
    async start(route, executionName, input) {
      calls.push(executionName);
      await gate;
      if (failNext) {
        failNext = false;
        throw new Error('StartExecution failed (held engine)');
      }
      return inner.start(route, executionName, input);
    },
  };
  const ctx: HandlerContext = { ...h.ctx, engine };
  return { h, ctx, calls, release, failNextStart: () => (failNext = true) };
}

let seq = 0;
/** Hands an event to the bot as the intake queue would (a new SQS message each time). */
function deliver(ctx: HandlerContext, event: unknown): Promise<'done' | 'retry'> {
  seq += 1;
  const m: IntakeMessage = { id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`, body: JSON.stringify(event), receiveCount: 1, source: 'intake', transport: 'sqs', sentAt: new Date() };
  return dispatchMessage(m, ctx);
}

function event(tag: string) {
  return falcoJson({ rule: 'Outbound Connection to C2 Servers', priority: 'Critical', output: `c2 ${tag}`, fields: { 'k8s.pod.name': `web-${tag}`, 'k8s.ns.name': 'dvwa' } });
}

const CUT_SHORT = 'the first handling of this incident was cut short: finishing it';

describe('a repeat while the first handling of its incident is in flight', () => {
  it('is counted and waits for the first handling: one StartExecution, no "cut short" warning', async () => {
    const { h, ctx, calls, release } = await heldEngine();
    const e = event(`inflight-${Date.now()}`);
    const first = deliver(ctx, e);
    await waitFor(async () => (calls.length === 1 ? true : undefined), { what: 'the first event waiting on StartExecution' });

    const repeat = deliver(ctx, e);
    await waitFor(async () => (h.lines.some((l) => l.message === 'repeat counted on the open incident') ? true : undefined), { what: 'the repeat counted' });
    // The repeat is held behind the first handling: it has not started the playbook itself.
    expect(calls).toHaveLength(1);

    release();
    await expect(first).resolves.toBe('done');
    await expect(repeat).resolves.toBe('done');
    expect(calls).toHaveLength(1);
    expect(h.started.size).toBe(1);
    expect(h.lines.filter((l) => l.message === CUT_SHORT)).toHaveLength(0);
    const incidentId = String(h.lines.find((l) => l.message === 'repeat counted on the open incident')?.incidentId);
    const incident = await ctx.incidents.get(incidentId);
    expect(incident?.count).toBe(2);
    expect(incident?.executionName).toBe([...h.started.keys()][0]);
    expect(h.outbox.has(incidentSlotKey(incidentId))).toBe(true);
  });

  it('finishes a first handling that failed meanwhile, and says so', async () => {
    const { h, ctx, calls, release, failNextStart } = await heldEngine();
    failNextStart();
    const e = event(`failed-${Date.now()}`);
    const first = deliver(ctx, e);
    await waitFor(async () => (calls.length === 1 ? true : undefined), { what: 'the first event waiting on StartExecution' });
    const repeat = deliver(ctx, e);
    await waitFor(async () => (h.lines.some((l) => l.message === 'repeat counted on the open incident') ? true : undefined), { what: 'the repeat counted' });

    release();
    // The first delivery is left for a retry; the repeat has finished the incident meanwhile.
    await expect(first).resolves.toBe('retry');
    await expect(repeat).resolves.toBe('done');
    expect(calls).toHaveLength(2);
    expect(h.started.size).toBe(1);
    expect(h.lines.filter((l) => l.message === CUT_SHORT)).toHaveLength(1);
    const incidentId = String(h.lines.find((l) => l.message === 'repeat counted on the open incident')?.incidentId);
    expect((await ctx.incidents.get(incidentId))?.executionName).toBe([...h.started.keys()][0]);
    expect(h.outbox.has(incidentSlotKey(incidentId))).toBe(true);
  });
});
