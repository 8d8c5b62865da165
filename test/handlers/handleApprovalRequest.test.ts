/**
 * An approval request is recorded for posting whatever the types of its triage's fields: one that
 * could not be rendered would be retried until it was dead-lettered, while its playbook waited,
 * unseen, for its default decision. Real handlers and file stores (intakeContext); the proposed
 * action is a stand-in whose dry run answers at once.
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

let h: IntakeContext | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const isolateNode = {
  id: 'isolate-node',
  description: 'a stand-in whose dry run answers at once',
  permissions: [],
  input: z.object({ node: z.string() }),
  run: async () => ({ status: 'skipped', summary: 'dry run: would isolate the node', details: { dryRun: true } }),
} as unknown as AnyActionDefinition;

describe('handleApprovalRequest', () => {
  it('records an approval whose triage fields have unexpected types, showing what it can', async () => {
    h = await createIntakeContext({ port: DISCORD_NOT_REACHED });
    const ctx = { ...h.ctx, actions: createActionRegistry({ 'isolate-node': async () => isolateNode }) };
    const taskToken = h.liveToken();
    const body = {
      kind: 'approval-request',
      taskToken,
      incident: {
        incidentId: 'inc-00000000000000oddtri',
        executionName: 'exec-odd-triage',
        triage: { rule: 4444, severity: ['high'], route: 'approval', source: 'falco', dedupeKey: { k: 1 }, target: { pod: 7, namespace: ['shop'], node: 'ip-10-0-1-23' }, context: 'not a record', steps: 'x' },
      },
      proposedAction: { action: 'isolate-node', input: { node: 'ip-10-0-1-23' }, summary: 'isolate the node' },
      timeoutSeconds: 3600,
      requestedAt: new Date().toISOString(),
    };
    const outcome = await dispatchMessage({ id: '00000000-0000-4000-8000-00000000q001', body: JSON.stringify(body), receiveCount: 1, source: 'control', transport: 'sqs', senderId: `${INTAKE_ROLE_ID}:exec` }, ctx);
    expect(outcome).toBe('done');
    const approvalId = approvalIdFor(taskToken);
    expect(h.outbox.has(approvalSlotKey(approvalId))).toBe(true);
    const slot = JSON.parse(await readFile(join(h.dir, 'outbox', `${approvalSlotKey(approvalId)}.json`), 'utf8')) as { view: { payload: { embeds: { title?: string; fields?: { name: string; value: string }[] }[] } } };
    const embed = slot.view.payload.embeds[0]!;
    expect(embed.title).toContain('4444');
    expect(JSON.stringify(embed.fields)).toContain('ip-10-0-1-23');
    expect(JSON.stringify(embed.fields)).toContain('would isolate the node');
    expect(h.lines.filter((l) => l.level === 'error')).toEqual([]);
  });
});
