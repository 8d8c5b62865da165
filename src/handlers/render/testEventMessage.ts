import type { TriageResult } from '../../pipeline/triage/types.js';
import { escapeInlineCode, escapePlain, escapeText } from './escapeText.js';
import { LIMITS } from './limits.js';
import { type RankedField, type RenderedMessage, embedWithFields, message, whenText } from './payload.js';
import { eventTime, targetFields } from './triageFields.js';

/** Green: nothing is wrong. */
const WIRING_OK = 0x2e7d32;

/**
 * Falcosidekick's test event (route `test`): the wiring works. Says what came through (the
 * forwarder's host, its custom fields such as the cluster, when), and that no incident was opened
 * and no playbook runs.
 */
export function renderTestEventMessage(triage: TriageResult): RenderedMessage {
  const fields: RankedField[] = [];
  // The host is Falcosidekick's own, not a node to act on: shown as "From".
  const { node: from, ...rest } = triage.target ?? {};
  if (from && from.trim()) fields.push({ name: 'From', value: escapeInlineCode(from, 300), inline: true, rank: 90 });
  fields.push(...targetFields({ ...triage, target: rest }));
  fields.push({ name: 'Rule', value: escapeInlineCode(triage.rule || 'Test rule', 300), inline: true, rank: 70 });
  const time = eventTime(triage);
  if (time) fields.push({ name: 'Sent', value: whenText(time), inline: true, rank: 60 });
  const embed = embedWithFields(
    {
      title: escapeText('✅ Wiring works: Falcosidekick → sentinel', LIMITS.embedTitle, { singleLine: true }),
      description: escapeText(
        "Falcosidekick's test event came through sentinel's intake and triage to this channel. No incident was opened and no playbook runs: Falco alerts will arrive the same way.",
        2000,
      ),
      color: WIRING_OK,
      footer: { text: escapePlain(`${triage.source} · test · ${triage.dedupeKey}`, LIMITS.footerText) },
      ...(time ? { timestamp: time.toISOString() } : {}),
    },
    fields,
  );
  return message([embed]);
}
