/**
 * Task tokens (Step Functions callback tokens) must never reach Discord: no builder takes one,
 * and a token that leaks into triage context or action details is not rendered.
 */
import { describe, expect, it } from 'vitest';
import { renderApprovalMessage } from '../../../src/handlers/render/approvalMessage.js';
import { renderCommandResult, renderConfirmation } from '../../../src/handlers/render/confirmMessage.js';
import { renderDecidedApproval, renderPendingSecondApproval } from '../../../src/handlers/render/decisionUpdate.js';
import { renderIncidentMessage } from '../../../src/handlers/render/incidentMessage.js';
import { renderNotifyAlert } from '../../../src/handlers/render/notifyMessage.js';
import { renderReport, renderReportFollowUps } from '../../../src/handlers/render/reportMessage.js';
import { TASK_TOKEN, allStrings, worstIncidentRecord, worstPreflight, worstTriage } from './fixtures.js';

const approval = {
  approvalId: 'apv_0123456789',
  incidentId: 'inc-1',
  triage: worstTriage(),
  proposedAction: { action: 'isolate-node', summary: 'quarantine' },
  preflight: worstPreflight(),
  deadline: new Date(),
  requiredApprovals: 2 as const,
  approvals: [{ by: '111111111111111111', at: new Date() }],
};

/** Any 32 consecutive characters of the token's body. */
const TOKEN_PIECE = TASK_TOKEN.slice(100, 132);

function renderAll(): Array<[string, unknown]> {
  const record = worstIncidentRecord();
  return [
    ['incident', renderIncidentMessage({ incidentId: 'inc-1', triage: worstTriage(), status: 'running', repeats: undefined })],
    ['approval', renderApprovalMessage(approval)],
    ['decided', renderDecidedApproval({ ...approval, decision: 'block', decidedBy: ['111111111111111111'], at: new Date() })],
    ['pending', renderPendingSecondApproval(approval)],
    ['report', renderReport({ incident: record })],
    ['follow-ups', renderReportFollowUps({ incident: record }, { maxFollowUps: 1000 })],
    ['notify', renderNotifyAlert(worstTriage({ source: 'guardduty' }))],
    ['confirm', renderConfirmation({ confirmId: 'cfm_0123456789', command: 'x', preflight: worstPreflight() })],
    ['result', renderCommandResult(worstPreflight(), 'done')],
  ];
}

describe('no task token is ever rendered', () => {
  it('tokens in triage context, preflight details (nested too) and action details are left out', () => {
    for (const [name, payload] of renderAll()) {
      const text = allStrings(payload).join('\n');
      expect(text, name).not.toContain(TASK_TOKEN.slice(0, 60));
      expect(text, name).not.toMatch(/task_?token|sessionToken/i);
      expect(text, name).not.toContain(TOKEN_PIECE);
    }
  });

  it('builders do not accept a token (compile-time)', () => {
    // @ts-expect-error -- there is no taskToken input
    renderApprovalMessage({ ...approval, taskToken: TASK_TOKEN });
    // @ts-expect-error -- there is no taskToken input
    renderIncidentMessage({ incidentId: 'i', triage: worstTriage(), status: 'running', repeats: undefined, taskToken: TASK_TOKEN });
    // @ts-expect-error -- there is no taskToken input
    renderConfirmation({ confirmId: 'cfm_0123456789', command: 'x', preflight: worstPreflight(), taskToken: TASK_TOKEN });
    // At run time an extra property is ignored, never shown.
    const sneaky = { ...approval, taskToken: TASK_TOKEN };
    expect(JSON.stringify(renderApprovalMessage(sneaky))).not.toContain(TASK_TOKEN.slice(0, 60));
  });
});
