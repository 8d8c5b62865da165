import type { TriageResult } from '../../pipeline/triage/types.js';
import { escapeInlineCode, escapePlain, escapeText } from './escapeText.js';
import { LIMITS } from './limits.js';
import { type RankedField, type RenderedMessage, embedWithFields, message, whenText } from './payload.js';
import { severityColor } from './severityColor.js';
import { eventTime, indicatorFields, targetFields, triageTitle } from './triageFields.js';

/** `8.5 / 10` when the score is a number in 0-10; the escaped text otherwise. */
function scoreText(score: string): string {
  const n = Number(score);
  return score.trim() !== '' && Number.isFinite(n) && n >= 0 && n <= 10 ? `${n} / 10` : escapeText(score, 40, { singleLine: true });
}

/**
 * A GuardDuty finding routed to `notify`: the finding title, type, severity score, resource type,
 * account and region, IoC and target. Only these named context keys are shown.
 */
export function renderNotifyAlert(triage: TriageResult): RenderedMessage {
  const c = triage.context ?? {};
  const fields: RankedField[] = [];
  const inline = (name: string, value: string | undefined, rank: number, render: (v: string) => string = (v) => escapeInlineCode(v, 200)) => {
    if (value !== undefined && value.trim() !== '') fields.push({ name, value: render(value), inline: true, rank });
  };
  inline('Severity score', c.score, 100, scoreText);
  inline('Finding type', triage.rule, 95, (v) => escapeInlineCode(v, 300));
  inline('Resource type', c.resourceType, 90);
  inline('Account', c.account, 80);
  inline('Region', c.region, 79);
  fields.push(...indicatorFields(triage), ...targetFields(triage));
  inline('Finding id', c.findingId, 50, (v) => escapeInlineCode(v, 300));
  inline('Count', c.count, 45, (v) => escapeText(v, 40, { singleLine: true }));
  const time = eventTime(triage);
  if (time) fields.push({ name: 'Updated', value: whenText(time), inline: true, rank: 40 });
  if (triage.warnings?.length) {
    fields.push({ name: 'Warnings', value: escapeText(triage.warnings.map((w) => `• ${w}`).join('\n'), LIMITS.fieldValue), rank: 10 });
  }
  const embed = embedWithFields(
    {
      title: triageTitle(triage.severity, triage.rule),
      ...(c.title && c.title.trim() ? { description: escapeText(c.title, 2000) } : {}),
      color: severityColor(triage.severity),
      footer: { text: escapePlain(`${triage.source} · notify · ${triage.dedupeKey}`, LIMITS.footerText) },
      ...(time ? { timestamp: time.toISOString() } : {}),
    },
    fields,
  );
  return message([embed]);
}
