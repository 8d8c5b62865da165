import type { TriageResult } from '../../pipeline/triage/types.js';
import { escapeInlineCode, escapeText } from './escapeText.js';
import { LIMITS } from './limits.js';
import { type RankedField, type RenderedMessage, discordTime, embedWithFields, linkUrl, message, toDate, whenText } from './payload.js';
import { severityColor } from './severityColor.js';
import { contextFields, eventTime, incidentFooter, indicatorFields, planText, targetFields, triageTitle } from './triageFields.js';

export type IncidentStatus = 'running' | 'awaiting-approval' | 'done' | 'failed';

export interface IncidentRepeats {
  /** Times this activity (dedupe key) was seen, this one included. */
  count: number;
  firstSeen: Date | string;
  lastSeen: Date | string;
}

export interface IncidentMessageInput {
  incidentId: string;
  triage: TriageResult;
  status: IncidentStatus;
  repeats: IncidentRepeats | undefined;
  executionName?: string;
  /** A link to the execution (Step Functions console); only http(s) URLs are used. */
  consoleUrl?: string;
  /** Observe mode, or an observe-only rule: every action is a dry run. */
  observe?: boolean;
}

const STATUS_TEXT: Readonly<Record<IncidentStatus, string>> = {
  running: '⏳ Running',
  'awaiting-approval': '🟡 Awaiting approval',
  done: '✅ Done',
  failed: '❌ Failed',
};

function repeatsText(repeats: IncidentRepeats): string {
  const first = toDate(repeats.firstSeen);
  const last = toDate(repeats.lastSeen);
  const count = Number.isFinite(repeats.count) ? Math.max(0, Math.floor(repeats.count)) : 0;
  return `seen ${count} time${count === 1 ? '' : 's'}${first ? ` since ${whenText(first)}` : ''}${last ? `, last ${discordTime(last)}` : ''}`;
}

/**
 * The alert for one incident: `[SEVERITY] rule`, where (node, namespace, pod, container), who and
 * what (user, command line), the IoC and file, the plan, how often it was seen, the status.
 * The footer names the incident and the dedupe key.
 */
export function renderIncidentMessage(input: IncidentMessageInput): RenderedMessage {
  const { triage } = input;
  const fields: RankedField[] = [
    { name: 'Status', value: STATUS_TEXT[input.status] ?? escapeText(String(input.status), 100), inline: true, rank: 100 },
    { name: 'Route', value: escapeInlineCode(triage.route, 100), inline: true, rank: 95 },
    ...indicatorFields(triage),
    ...targetFields(triage),
    ...contextFields(triage),
  ];
  if (input.repeats && input.repeats.count > 1) fields.push({ name: 'Repeats', value: repeatsText(input.repeats), rank: 65 });
  fields.push({ name: 'Plan', value: planText(triage.steps ?? []), rank: 40 });
  if (input.observe) fields.push({ name: 'Observe mode', value: '👁 Every action runs as a dry run: the report shows what each would change; nothing is changed.', rank: 90 });
  const time = eventTime(triage);
  if (time) fields.push({ name: 'Event time', value: whenText(time), inline: true, rank: 30 });
  const url = linkUrl(input.consoleUrl);
  if (input.executionName || url) {
    const name = escapeText(input.executionName || 'execution', 200, { singleLine: true });
    fields.push({ name: 'Execution', value: url ? `[${name}](${url})` : name, rank: 20 });
  }
  if (triage.warnings?.length) {
    fields.push({ name: 'Warnings', value: escapeText(triage.warnings.map((w) => `• ${w}`).join('\n'), LIMITS.fieldValue), rank: 10 });
  }
  const embed = embedWithFields(
    {
      title: triageTitle(triage.severity, triage.rule),
      color: severityColor(triage.severity),
      footer: incidentFooter(input.incidentId, triage.dedupeKey),
      ...(time ? { timestamp: time.toISOString() } : {}),
    },
    fields,
  );
  return message([embed]);
}
