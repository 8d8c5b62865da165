/**
 * An approval is not held back by a slow preflight: when the proposed action's dry run has not
 * answered within PREFLIGHT_DEADLINE_MS (AWS throttled in a storm), the request is recorded for
 * posting without its plan, and says so. Real handlers and file stores (intakeContext); the
 * proposed action is a registered stand-in whose dry run never answers, the state that is tested.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { dispatchMessage } from '../../src/handlers/dispatchMessage.js';
import { approvalIdFor } from '../../src/handlers/approvalIdFor.js';
import { PREFLIGHT_DEADLINE_MS } from '../../src/handlers/handleApprovalRequest.js';
import { approvalSlotKey } from '../../src/handlers/ports/outboxSlot.js';
import { createActionRegistry } from '../../src/pipeline/actions/registry.js';
import type { AnyActionDefinition } from '../../src/pipeline/actions/types.js';
import { createIntakeContext, DISCORD_NOT_REACHED, INTAKE_ROLE_ID, type IntakeContext } from '../helpers/intakeContext.js';

const port = DISCORD_NOT_REACHED;

let h: IntakeContext | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('an approval request whose preflight does not answer', () => {
  it('is recorded for posting after the preflight deadline, without its plan', async () => {
    h = await createIntakeContext({ port });
    const hanging = {
      id: 'isolate-node',
      description: 'a stand-in whose dry run never answers',
      permissions: [],
      input: z.object({ node: z.string() }),
      run: () => new Promise(() => undefined),
    } as unknown as AnyActionDefinition;
    const ctx = { ...h.ctx, actions: createActionRegistry({ 'isolate-node': async () => hanging }) };
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
    expect(took).toBeGreaterThanOrEqual(PREFLIGHT_DEADLINE_MS - 50);
    expect(took).toBeLessThan(PREFLIGHT_DEADLINE_MS + 5_000);
    expect(h.outbox.has(approvalSlotKey(approvalIdFor(taskToken)))).toBe(true);
    expect(h.lines.some((l) => l.message === 'the preflight did not answer in time; the approval is posted without its plan')).toBe(true);
  });
});
