/**
 * A new incident's playbook start is taken off the intake's path: the handler records it durably
 * and its message is done while StartExecution is still held; the starter makes it afterwards,
 * once, and a repeat handled meanwhile is only counted (no "cut short" warning, no second start).
 * A start that fails is retried by the starter, not by holding (and re-receiving) the message.
 *
 * Real handlers and file stores (test/helpers/intakeContext.ts); Step Functions is the helper's
 * in-memory engine behind a deliberately held wrapper: its start waits until the test lets it go
 * (or fails once), so "StartExecution is slow" is a state the test holds, not a race it hopes for.
 * Messages go in through dispatchMessage, as the intake hands them over (each handled with its own
 * copy of the context). Discord is not reached: the outbox is not started, and what the handler
 * records in it is read back with `has`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { dispatchMessage } from '../../src/handlers/dispatchMessage.js';
import type { IntakeMessage } from '../../src/handlers/ports/intake.js';
import type { HandlerContext } from '../../src/handlers/context.js';
import type { PlaybookEngine } from '../../src/handlers/ports/playbookEngine.js';
import { incidentSlotKey } from '../../src/handlers/ports/outboxSlot.js';
import { waitFor } from '../support/aws.js';
import { createIntakeContext, DISCORD_NOT_REACHED, type IntakeContext } from '../helpers/intakeContext.js';
import { falcoJson } from '../helpers/events.js';
import { join } from 'node:path';
import { createPlaybookStarter } from '../../src/handlers/playbookStarter.js';
import { FilePendingStartStore } from '../../src/stores/pendingStartStore.js';

const port = DISCORD_NOT_REACHED;

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
  const starts = createPlaybookStarter({ store: new FilePendingStartStore({ dir: join(h.dir, 'held-starts'), fsync: false }), engine, incidents: h.ctx.incidents, audit: h.ctx.audit, outbox: h.outbox, logger: h.ctx.logger, retryMs: 50 });
  const ctx: HandlerContext = { ...h.ctx, engine, starts };
  return { h, ctx, calls, release, failNextStart: () => (failNext = true), starts };
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

describe('playbook starts off the intake path', () => {
  it('the message is done while StartExecution is held; a repeat meanwhile is counted; one start is made afterwards', async () => {
    const { h, ctx, calls, release, starts } = await heldEngine();
    const e = event(`inflight-${Date.now()}`);
    await expect(deliver(ctx, e)).resolves.toBe('done');
    await waitFor(async () => (calls.length === 1 ? true : undefined), { what: 'the start under way' });
    const incidentId = String(h.lines.find((l) => l.message === 'playbook start recorded')?.incidentId);
    expect(starts.isPending(incidentId)).toBe(true);
    expect(h.outbox.has(incidentSlotKey(incidentId))).toBe(true);

    await expect(deliver(ctx, e)).resolves.toBe('done');
    expect(h.lines.some((l) => l.message === 'repeat counted on the open incident')).toBe(true);
    expect(calls).toHaveLength(1);

    release();
    await starts.idle();
    expect(calls).toHaveLength(1);
    expect(h.started.size).toBe(1);
    expect(h.lines.filter((l) => l.message === CUT_SHORT)).toHaveLength(0);
    const incident = await ctx.incidents.get(incidentId);
    expect(incident?.count).toBe(2);
    expect(incident?.executionName).toBe([...h.started.keys()][0]);
    expect(starts.isPending(incidentId)).toBe(false);
    await starts.stop();
  });

  it('a start that fails is retried by the starter, not by leaving the message for a redelivery', async () => {
    const { h, ctx, calls, release, failNextStart, starts } = await heldEngine();
    failNextStart();
    release();
    const e = event(`failed-${Date.now()}`);
    await expect(deliver(ctx, e)).resolves.toBe('done');
    await starts.idle();
    expect(calls).toHaveLength(2);
    expect(h.started.size).toBe(1);
    const retried = h.lines.filter((l) => l.message === 'starting the playbook failed; will retry');
    expect(retried).toHaveLength(1);
    expect(String(retried[0]?.reason)).toContain('held engine');
    const incidentId = String(h.lines.find((l) => l.message === 'playbook start recorded')?.incidentId);
    expect((await ctx.incidents.get(incidentId))?.executionName).toBe([...h.started.keys()][0]);
    expect(h.lines.filter((l) => l.message === CUT_SHORT)).toHaveLength(0);
    await starts.stop();
  });
});
