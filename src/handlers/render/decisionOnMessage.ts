import type { APIEmbed } from 'discord.js';
import { approvalButtons } from './approvalMessage.js';
import { escapeText } from './escapeText.js';
import { fitEmbed, LIMITS } from './limits.js';
import { actorText, message, whenText, type RenderedMessage } from './payload.js';

export type ShownDecision = 'allow' | 'block' | 'expired' | 'failed' | 'pending-second';

const HEAD: Readonly<Record<ShownDecision, string>> = {
  allow: '✅ Allowed',
  block: '⛔ Blocked',
  expired: '⌛ Expired',
  failed: '❌ Not applied',
  'pending-second': '🟡 One approval recorded: waiting for a second responder',
};

/**
 * An approval message as posted, with the decision put first and the buttons
 * disabled (still enabled while a second approver is awaited). Works from the
 * message's own embeds, so nothing about the incident has to be kept to update it.
 */
export function renderDecisionOnMessage(input: {
  approvalId: string;
  embeds: readonly APIEmbed[];
  decision: ShownDecision;
  by: readonly string[];
  at: Date;
  note?: string;
}): RenderedMessage {
  const who = input.by.length ? ` by ${input.by.slice(0, 5).map((b) => actorText(b)).join(', ')}` : '';
  const note = input.note ? `\n${escapeText(input.note, 500)}` : '';
  const value = `${HEAD[input.decision]}${who}\n${whenText(input.at)}${note}`.slice(0, LIMITS.fieldValue);
  const [first, ...rest] = input.embeds.length ? input.embeds : [{ title: 'Approval' } as APIEmbed];
  const fields = (first!.fields ?? []).filter((f) => f.name !== 'Decision');
  const updated = fitEmbed({ ...first!, fields: [{ name: 'Decision', value }, ...fields].slice(0, LIMITS.embedFields) });
  return message([updated, ...rest], [approvalButtons(input.approvalId, input.decision !== 'pending-second')]);
}
