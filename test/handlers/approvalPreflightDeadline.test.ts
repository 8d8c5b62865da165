/**
 * An approval is not held back by a slow preflight: when the proposed action's dry run has not
 * answered within SENTINEL_PREFLIGHT_DEADLINE_SECONDS (AWS throttled in a storm), the request is recorded for
 * posting without its plan, and says so; the plan is added to the message when the preflight
 * answers, unless someone has answered the approval by then. Real handlers and file stores
 * (intakeContext); the proposed action is a registered stand-in whose dry run answers late or
 * never, the state that is tested.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { dispatchMessage } from '../../src/handlers/dispatchMessage.js';
import { approvalIdFor } from '../../src/handlers/approvalIdFor.js';
import { approvalSlotKey } from '../../src/handlers/ports/outboxSlot.js';
import { createActionRegistry } from '../../src/pipeline/actions/registry.js';
import type { AnyActionDefinition } from '../../src/pipeline/actions/types.js';
import { createIntakeContext, DISCORD_NOT_REACHED, INTAKE_ROLE_ID, type IntakeContext } from '../helpers/intakeContext.js';
import { waitFor } from '../support/aws.js';

const port = DISCORD_NOT_REACHED;

let h: IntakeContext | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A stand-in for isolate-node whose dry run answers with `summary` after `afterMs` (never when undefined). */
function slowAction(afterMs: number | undefined, summary: string): AnyActionDefinition {
  return {
    id: 'isolate-node',
    description: 'a stand-in whose dry run answers late',
    permissions: [],
    input: z.object({ node: z.string() }),
    run: () => new Promise((resolve) => (afterMs === undefined ? undefined : setTimeout(() => resolve({ status: 'skipped', summary: `dry run: ${summary}`, details: { dryRun: true } }), afterMs))),
  } as unknown as AnyActionDefinition;
}

function approvalBody(taskToken: string, incidentId: string) {
  return {
    kind: 'approval-request',
    taskToken,
    incident: { incidentId, executionName: `exec-${incidentId}`, triage: { rule: 'Terminal shell in container', severity: 'high', route: 'approval', source: 'falco', dedupeKey: 'k', target: {} } },
    proposedAction: { action: 'isolate-node', input: { node: 'ip-10-0-1-23.ap-northeast-2.compute.internal' }, summary: 'isolate the node' },
    timeoutSeconds: 3600,
    requestedAt: new Date().toISOString(),
  };
}

/** The approval message as the outbox keeps it on disk (what its sender posts or edits). */
async function approvalSlot(dir: string, approvalId: string): Promise<{ version: number; view: { payload: unknown; outcome?: { decision: string } } }> {
  return JSON.parse(await readFile(join(dir, 'outbox', `${approvalSlotKey(approvalId)}.json`), 'utf8')) as never;
}

/** Sends an approval request whose isolate-node dry run answers `summary` 1.5 s after the deadline; resolves with the handler's outcome. */
async function askWithLatePreflight(t: IntakeContext, summary: string, n: number) {
  const ctx = { ...t.ctx, actions: createActionRegistry({ 'isolate-node': async () => slowAction(t.ctx.bot.preflightDeadlineMs + 1500, summary) }) };
  const taskToken = t.liveToken();
  const body = JSON.stringify(approvalBody(taskToken, `inc-00000000000000late${n}`));
  const outcome = await dispatchMessage({ id: `00000000-0000-4000-8000-00000000p00${n + 1}`, body, receiveCount: 1, source: 'control', transport: 'sqs', senderId: `${INTAKE_ROLE_ID}:exec` }, ctx);
  return { outcome, approvalId: approvalIdFor(taskToken) };
}

describe('an approval request whose preflight answers late', () => {
  it('is recorded without its plan, and its message shows the plan once the preflight answers', async () => {
    h = await createIntakeContext({ port });
    const { outcome, approvalId } = await askWithLatePreflight(h, 'would cordon ip-10-0-1-23 and detach it from its group', 1);
    expect(outcome).toBe('done');
    const first = await approvalSlot(h.dir, approvalId);
    expect(JSON.stringify(first.view.payload)).toContain('its plan is added here if it answers while this approval is open');
    expect(JSON.stringify(first.view.payload)).not.toContain('would cordon');

    const updated = await waitFor(async () => {
      const s = await approvalSlot(h!.dir, approvalId);
      return JSON.stringify(s.view.payload).includes('would cordon ip-10-0-1-23') ? s : undefined;
    }, { timeoutMs: 10_000, what: 'the plan on the approval message' });
    expect(updated.version).toBe(first.version + 1);
    expect(JSON.stringify(updated.view.payload)).not.toContain('did not answer');
    // Still the question: its buttons are there.
    expect(JSON.stringify(updated.view.payload)).toContain(`apv:${approvalId}:block`);
    expect(h.lines.some((l) => l.message === 'the late preflight answered; its plan is added to the approval')).toBe(true);
  });

  it('leaves the message as it is when someone answered the approval before the preflight did', async () => {
    h = await createIntakeContext({ port });
    const { approvalId } = await askWithLatePreflight(h, 'would cordon the node', 2);
    const decided = await h.ctx.approvals.decide(approvalId, { by: 'discord:200000000000000001', decision: 'block', at: new Date() });
    expect(decided.outcome).toBe('decided');
    const before = await approvalSlot(h.dir, approvalId);
    await waitFor(async () => (h!.lines.some((l) => l.message === 'the late preflight answered after the approval was answered or closed; its plan is not added') ? true : undefined), { timeoutMs: 10_000, what: 'the late preflight set aside' });
    const after = await approvalSlot(h.dir, approvalId);
    expect(after.version).toBe(before.version);
    expect(JSON.stringify(after.view.payload)).not.toContain('would cordon');
  });
});

describe('an approval request whose preflight does not answer', () => {
  it('is recorded for posting after the preflight deadline, without its plan', async () => {
    h = await createIntakeContext({ port });
    const deadlineMs = h.ctx.bot.preflightDeadlineMs;
    // SENTINEL_PREFLIGHT_DEADLINE_SECONDS's default.
    expect(deadlineMs).toBe(2000);
    const ctx = { ...h.ctx, actions: createActionRegistry({ 'isolate-node': async () => slowAction(undefined, 'never') }) };
    const taskToken = h.liveToken();
    const body = {
      kind: 'approval-request',
      taskToken,
      incident: { incidentId: 'inc-00000000000000preflt', executionName: 'exec-preflight', triage: { rule: 'Terminal shell in container', severity: 'high', route: 'approval', source: 'falco', dedupeKey: 'k', target: {} } },
      proposedAction: { action: 'isolate-node', input: { node: 'ip-10-0-1-23.ap-northeast-2.compute.internal' }, summary: 'isolate the node' },
      timeoutSeconds: 3600,
      requestedAt: new Date().toISOString(),
    };
    const asked = Date.now();
    const outcome = await dispatchMessage({ id: '00000000-0000-4000-8000-00000000p001', body: JSON.stringify(body), receiveCount: 1, source: 'control', transport: 'sqs', senderId: `${INTAKE_ROLE_ID}:exec` }, ctx);
    const took = Date.now() - asked;
    expect(outcome).toBe('done');
    expect(took).toBeGreaterThanOrEqual(deadlineMs - 50);
    expect(took).toBeLessThan(deadlineMs + 5_000);
    expect(h.outbox.has(approvalSlotKey(approvalIdFor(taskToken)))).toBe(true);
    expect(h.lines.some((l) => l.message === 'the preflight did not answer in time; the approval is posted without its plan')).toBe(true);
  });
});
