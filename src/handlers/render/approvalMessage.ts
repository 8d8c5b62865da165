import type { APIActionRowComponent, APIButtonComponentWithCustomId, APIEmbed } from 'discord.js';
import { ButtonStyle } from 'discord.js';
import { ValidationError } from '../../errors.js';
import type { ActionResult } from '../../pipeline/actions/types.js';
import type { TriageResult } from '../../pipeline/triage/types.js';
import { actionResultText } from './actionDetails.js';
import { escapeInlineCode, escapeText } from './escapeText.js';
import { LIMITS } from './limits.js';
import {
  type RankedField,
  type RenderedMessage,
  actorText,
  assertRenderId,
  button,
  buttonRow,
  discordTime,
  embedWithFields,
  linkUrl,
  message,
  toDate,
} from './payload.js';
import { severityColor } from './severityColor.js';
import { contextFields, incidentFooter, indicatorFields, targetFields, triageTitle } from './triageFields.js';

export interface EvidenceLink {
  label: string;
  url: string;
}

export interface ApprovalVote {
  /** A Discord user id (or `discord:<id>`). */
  by: string;
  at: Date | string;
  /** What this approver chose, when the message should say it. */
  decision?: 'allow' | 'block';
}

export interface ApprovalMessageInput {
  /** `[A-Za-z0-9_-]{8,40}`: it goes into the buttons' custom_id. */
  approvalId: string;
  incidentId: string;
  triage: TriageResult;
  /** What Block would run: the action id and one sentence. */
  proposedAction: { action: string; summary: string };
  /** The action's dry run: which NACL rule, which security groups, which policy… */
  preflight: ActionResult<object> | undefined;
  deadline: Date;
  evidenceLinks?: EvidenceLink[];
  requiredApprovals: 1 | 2;
  approvals: ApprovalVote[];
}

export type ApprovalChoice = 'allow' | 'block';

/** `apv:<approvalId>:allow` / `apv:<approvalId>:block` (at most 50 characters). */
export function approvalCustomId(approvalId: string, choice: ApprovalChoice): string {
  assertRenderId('approval', approvalId);
  return `apv:${approvalId}:${choice}`;
}

/** The Allow (green) and Block (red) buttons; disabled once decided. */
export function approvalButtons(approvalId: string, disabled: boolean): APIActionRowComponent<APIButtonComponentWithCustomId> {
  return buttonRow(
    button(approvalCustomId(approvalId, 'allow'), 'Allow', ButtonStyle.Success, disabled),
    button(approvalCustomId(approvalId, 'block'), 'Block', ButtonStyle.Danger, disabled),
  );
}

const VALUE = LIMITS.fieldValue;

function requireDate(value: Date, what: string): Date {
  const d = toDate(value);
  if (!d) throw new ValidationError(`${what} is not a valid date`, { code: 'InvalidDate' });
  return d;
}

/** Evidence links as masked links, packed into at most two fields. */
function evidenceFields(links: readonly EvidenceLink[], rank: number): RankedField[] {
  if (links.length === 0) return [];
  const lines = links.map((l) => {
    const label = escapeText(l.label || 'evidence', 100, { singleLine: true });
    const url = linkUrl(l.url, 900);
    return url ? `[${label}](${url})` : `${label} (link not shown)`;
  });
  const fields: RankedField[] = [];
  let i = 0;
  for (let f = 0; f < 2 && i < lines.length; f += 1) {
    let value = '';
    while (i < lines.length) {
      const line = lines[i] ?? '';
      const reserve = f === 1 && i < lines.length - 1 ? 32 : 0;
      if ((value ? value.length + 1 : 0) + line.length + reserve > VALUE) break;
      value = value ? `${value}\n${line}` : line;
      i += 1;
    }
    if (!value) {
      // A link too long for a field: show its label only.
      value = escapeText(links[i]?.label || 'evidence', 100, { singleLine: true }) + ' (link too long)';
      i += 1;
    }
    fields.push({ name: f === 0 ? 'Evidence' : 'Evidence (cont.)', value, rank: rank - f });
  }
  const last = fields[fields.length - 1];
  if (last && i < lines.length) last.value += `\n…and ${lines.length - i} more`;
  return fields;
}

/**
 * Every reading of an ambiguous file path (triage.artifact.candidates), numbered, each as inline
 * code: what Block acts on. Packed into as many fields as they need, none left out silently.
 */
function candidateFields(triage: TriageResult): RankedField[] {
  const list = Array.isArray(triage.artifact?.candidates) ? triage.artifact.candidates.filter((c): c is string => typeof c === 'string') : [];
  if (list.length === 0) return [];
  const lines = list.map((p, i) => `${i + 1}. ${escapeInlineCode(p, 300)}`);
  const fields: RankedField[] = [];
  let value = '';
  const flush = () => {
    if (!value) return;
    const name = fields.length === 0 ? `File path: ${list.length} possible readings (each is a candidate)` : 'File path readings (cont.)';
    fields.push({ name, value, rank: 99 - fields.length * 0.01 });
    value = '';
  };
  for (const line of lines) {
    if (value && value.length + 1 + line.length > VALUE) flush();
    value = value ? `${value}\n${line}` : line;
  }
  flush();
  return fields;
}

function votesText(votes: readonly ApprovalVote[], required: number): string {
  const head = `${votes.length}/${required}`;
  // Votes are at most two in practice; a long list is cut by fitEmbed like any other value.
  const list = votes.map((v) => {
    const at = toDate(v.at);
    return `${actorText(v.by)}${v.decision === 'allow' || v.decision === 'block' ? ` (${v.decision})` : ''}${at ? ` ${discordTime(at)}` : ''}`;
  });
  return [head, ...list].join('\n');
}

export interface ApprovalEmbedOptions {
  /** Fields shown first (the decision, the second-approval notice). */
  leading?: RankedField[];
  /** Replaces the description. */
  description?: string;
}

/** The approval embed (shared by the open, pending-second-approval and decided states). */
export function approvalEmbed(input: ApprovalMessageInput, options: ApprovalEmbedOptions = {}): APIEmbed {
  assertRenderId('approval', input.approvalId);
  const deadline = requireDate(input.deadline, 'deadline');
  if (input.requiredApprovals !== 1 && input.requiredApprovals !== 2) throw new ValidationError('requiredApprovals must be 1 or 2', { code: 'InvalidApprovals' });
  const { triage } = input;
  const action = escapeInlineCode(input.proposedAction.action || 'unknown', 120);
  const fields: RankedField[] = [
    ...(options.leading ?? []),
    { name: 'Proposed action', value: `${action} ${escapeText(input.proposedAction.summary || '', VALUE - action.length - 1)}`.trim(), rank: 100 },
    {
      name: 'Preflight',
      value: input.preflight ? actionResultText(input.preflight, VALUE) : 'no preflight: the plan is unknown until it runs',
      rank: 96,
    },
    { name: 'Deadline', value: `${discordTime(deadline)} (${discordTime(deadline, 'f')})`, inline: true, rank: 98 },
    { name: 'Approvals', value: votesText(input.approvals ?? [], input.requiredApprovals), inline: true, rank: 97 },
    ...candidateFields(triage),
    ...indicatorFields(triage),
    ...targetFields(triage),
    ...contextFields(triage),
    ...evidenceFields(input.evidenceLinks ?? [], 60),
  ];
  const description =
    options.description ??
    `**Block** runs the proposed action; **Allow** lets the activity go on. Decide ${discordTime(deadline)}.` +
      (input.requiredApprovals === 2 ? ' Two different people must agree.' : '');
  return embedWithFields(
    {
      title: triageTitle(triage.severity, triage.rule),
      description,
      color: severityColor(triage.severity),
      footer: incidentFooter(input.incidentId, triage.dedupeKey, `approval ${input.approvalId}`),
    },
    fields,
  );
}

/**
 * The approval request: the rule, target, who and what, IoC, evidence links, the proposed action
 * and its preflight, the deadline (`<t:unix:R>`) and Allow / Block buttons
 * (`apv:<approvalId>:allow|block`).
 */
export function renderApprovalMessage(input: ApprovalMessageInput): RenderedMessage {
  return message([approvalEmbed(input)], [approvalButtons(input.approvalId, false)]);
}
