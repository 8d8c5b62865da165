/**
 * Storm mode's digest: one message for many incidents of one rule on one class of target, posted
 * instead of a message per incident when they arrive faster than the channel can show them. It
 * gives the count, where each stands (running, done, failed), the top targets and the time span;
 * the full list goes to its thread, a page per message. Every incident in it is recorded and its
 * playbook runs as usual; its approvals are posted on their own.
 */
import type { DigestMember, DigestSummary, MemberStatus } from './planDigest.js';
import { escapeInlineCode, escapeText } from '../../handlers/render/escapeText.js';
import { LIMITS } from '../../handlers/render/limits.js';
import { type RankedField, type RenderedMessage, discordTime, embedWithFields, message, whenText } from '../../handlers/render/payload.js';
import { severityColor } from '../../handlers/render/severityColor.js';
import { triageTitle } from '../../handlers/render/triageFields.js';

export interface DigestMessageInput {
  digestId: string;
  rule: string;
  targetClass: string;
  summary: DigestSummary;
  openedAt: Date;
  lastJoinAt: Date;
  /** Pages of the full list in the thread (0 until the first is posted). */
  pages: number;
}

const STATUS: Readonly<Record<MemberStatus, string>> = { running: '⏳ running', done: '✅ done', failed: '❌ failed' };
const CLASS_NAME: Readonly<Record<string, string>> = { pod: 'pods', node: 'nodes', instance: 'instances', ip: 'addresses', other: 'targets' };

function statusLine(summary: DigestSummary): string {
  return (Object.keys(STATUS) as MemberStatus[])
    .filter((s) => summary.byStatus[s] > 0)
    .map((s) => `${STATUS[s]}: ${summary.byStatus[s]}`)
    .join(' · ') || '—';
}

export function renderDigest(input: DigestMessageInput): RenderedMessage {
  const { summary } = input;
  const targets = CLASS_NAME[input.targetClass] ?? 'targets';
  const fields: RankedField[] = [
    { name: 'Incidents', value: String(summary.total), inline: true, rank: 100 },
    { name: 'Where they stand', value: statusLine(summary), inline: true, rank: 95 },
    {
      name: `Top ${targets}`,
      value: summary.topTargets.map((t) => `${escapeInlineCode(t.target, 200)} × ${t.count}`).join('\n').slice(0, LIMITS.fieldValue) || '—',
      rank: 90,
    },
    { name: 'Since', value: whenText(input.openedAt), inline: true, rank: 60 },
    { name: 'Latest', value: discordTime(input.lastJoinAt), inline: true, rank: 59 },
    {
      name: 'Full list',
      value: input.pages > 0 ? `In this message's thread (${input.pages} page${input.pages === 1 ? '' : 's'}): each incident, its target and where it stands.` : 'In this message\'s thread, as soon as it is posted.',
      rank: 80,
    },
  ];
  const embed = embedWithFields(
    {
      title: triageTitle(summary.severity, input.rule, '🌩 Storm: '),
      description: escapeText(
        `${summary.total} incident${summary.total === 1 ? '' : 's'} of this rule on ${targets} arrived faster than this channel can show them one by one. Each is recorded and its playbook runs; approvals are posted on their own.`,
        LIMITS.embedDescription,
      ),
      color: severityColor(summary.severity),
      footer: { text: escapeText(`digest ${input.digestId} · ${input.targetClass}`, 200, { singleLine: true }) },
    },
    fields,
  );
  return message([embed]);
}

/** One page of the digest's full list (plain text, at most 2000 characters). */
export function renderDigestPage(members: readonly DigestMember[], from: number, total: number): RenderedMessage {
  const head = `**Incidents ${from + 1}–${from + members.length} of ${total}**`;
  const lines = members.map((m) => `${escapeInlineCode(m.incidentId, 140)} ${escapeInlineCode(m.target, 300)} ${STATUS[m.status]}`);
  let content = head;
  for (const line of lines) {
    if (content.length + 1 + line.length > LIMITS.content - 40) {
      content += '\n…';
      break;
    }
    content += `\n${line}`;
  }
  return { ...message([]), content };
}
