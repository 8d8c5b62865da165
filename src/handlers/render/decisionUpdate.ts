import { ValidationError } from '../../errors.js';
import { type ApprovalMessageInput, approvalButtons, approvalEmbed } from './approvalMessage.js';
import { escapeText } from './escapeText.js';
import { type RenderedMessage, actorText, message, toDate, whenText } from './payload.js';

export type ApprovalDecision = 'allow' | 'block' | 'expired' | 'failed';

export interface DecidedApprovalInput extends ApprovalMessageInput {
  decision: ApprovalDecision;
  /** Discord user ids (or `discord:<id>`) of who decided; empty for `expired`. */
  decidedBy: string[];
  at: Date;
  note?: string;
}

const DECISION_TEXT: Readonly<Record<ApprovalDecision, string>> = {
  allow: '✅ Allowed',
  block: '⛔ Blocked',
  expired: '⌛ Expired',
  failed: '❌ Failed',
};

function decisionText(input: DecidedApprovalInput): string {
  const at = toDate(input.at);
  if (!at) throw new ValidationError('the decision time is not a valid date', { code: 'InvalidDate' });
  const head = DECISION_TEXT[input.decision];
  if (!head) throw new ValidationError(`unknown decision ${String(input.decision)}`, { code: 'InvalidDecision' });
  const who = input.decidedBy.length ? ` by ${input.decidedBy.slice(0, 5).map((by) => actorText(by)).join(', ')}` : '';
  const why = input.decision === 'expired' && !who ? ': nobody decided before the deadline' : '';
  const note = input.note ? `\n${escapeText(input.note, 600)}` : '';
  return `${head}${who}${why}\n${whenText(at)}${note}`;
}

/**
 * The approval message once decided (allowed, blocked, expired or failed): the same embed with
 * who decided and when shown first, and both buttons disabled. Mentions are shown, never pinged.
 */
export function renderDecidedApproval(input: DecidedApprovalInput): RenderedMessage {
  const decision = decisionText(input);
  const embed = approvalEmbed(input, {
    leading: [{ name: 'Decision', value: decision, rank: 200 }],
    description: input.decision === 'allow' || input.decision === 'block' ? 'Decided.' : 'Closed without a decision.',
  });
  return message([embed], [approvalButtons(input.approvalId, true)]);
}

/**
 * The two-person rule, half way: the first approval is recorded (shown first), the buttons stay
 * enabled for a second, different approver.
 */
export function renderPendingSecondApproval(input: ApprovalMessageInput): RenderedMessage {
  const first = input.approvals[0];
  if (input.requiredApprovals !== 2 || input.approvals.length !== 1 || !first) {
    throw new ValidationError('a pending second approval needs requiredApprovals 2 and exactly one approval', { code: 'InvalidApprovals' });
  }
  const at = toDate(first.at);
  const choice = first.decision === 'allow' || first.decision === 'block' ? ` chose **${first.decision === 'allow' ? 'Allow' : 'Block'}**` : ' approved';
  const value = `${actorText(first.by)}${choice}${at ? ` ${whenText(at)}` : ''}\nWaiting for a second approver (a different person).`;
  const embed = approvalEmbed(input, { leading: [{ name: 'Second approval needed', value, rank: 200 }] });
  return message([embed], [approvalButtons(input.approvalId, false)]);
}
