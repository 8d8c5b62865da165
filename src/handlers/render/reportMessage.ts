/**
 * The final incident report: outcome, route, target, each action's result, the decision trail,
 * the evidence manifest (hash, size, location) and where the record is. What does not fit in one
 * message's embeds (6000 characters in all) is posted as follow-ups in the incident's thread.
 */
import type { APIEmbed, APIEmbedField } from 'discord.js';
import type { IncidentInput } from '../../pipeline/incident/incidentRecord.js';
import { SEVERITIES, type Severity, type TriageResult } from '../../pipeline/triage/types.js';
import { awsNotConfiguredSummary, isAwsNotConfigured } from './actionDetails.js';
import { escapeCodeBlock, escapeInlineCode, escapePlain, escapeText, truncateText } from './escapeText.js';
import { LIMITS, embedLength, fitEmbed } from './limits.js';
import { type RenderedMessage, actorText, discordTime, message, toDate, whenText } from './payload.js';
import { severityColor } from './severityColor.js';
import { iocText, triageTitle } from './triageFields.js';

type ActionOutcome = Pick<IncidentInput['actions'][number], 'action' | 'status' | 'summary'> & { at?: string | undefined; details?: Record<string, unknown> | undefined };
type EvidenceItem = Pick<IncidentInput['evidence'][number], 'kind' | 'location'> & Partial<Pick<IncidentInput['evidence'][number], 'sha256' | 'size' | 'collector'>>;
type Decision = Pick<IncidentInput['decisions'][number], 'decision' | 'by' | 'at'> & Partial<Pick<IncidentInput['decisions'][number], 'action' | 'note'>>;

/** An IncidentRecord, or anything with its reported parts. */
export interface ReportIncident {
  incidentId?: string;
  executionName?: string;
  startTime?: string;
  route: string;
  triage: Record<string, unknown> | TriageResult;
  actions: readonly ActionOutcome[];
  manifest: readonly EvidenceItem[];
  decisions: readonly Decision[];
  error?: { error: string; cause?: string | undefined } | undefined;
  repeats?: number | undefined;
}

export interface ReportInput {
  incident: ReportIncident;
  /** Where the incident record was written (`s3://…`). */
  record?: { location: string } | undefined;
}

export interface ReportOptions {
  /** Embeds in the report message (1-10, default 10); the 6000-character total applies across them. */
  maxEmbeds?: number;
  /** Follow-up messages at most (default 20); the last one says what was left out. */
  maxFollowUps?: number;
}

interface Section {
  name: string;
  lines: string[];
}

interface Layout {
  embeds: APIEmbed[];
  /** Sections (or their tails) that did not fit, with the index of their first line left out. */
  overflow: Array<{ section: Section; from: number }>;
}

const LINE_MAX = 400;
const NAME_RESERVE = 48;
const NOTE_RESERVE = 160;
const STATUS_ICON: Record<string, string> = { succeeded: '✅', skipped: '⏭️', failed: '❌' };

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v : undefined;
}

function triageFacts(triage: Record<string, unknown> | TriageResult) {
  const t = triage as Record<string, unknown>;
  const severity = (SEVERITIES as readonly string[]).includes(String(t.severity)) ? (t.severity as Severity) : 'info';
  const target = (typeof t.target === 'object' && t.target !== null ? t.target : {}) as Record<string, unknown>;
  const ioc = typeof t.ioc === 'object' && t.ioc !== null && typeof (t.ioc as { ip?: unknown }).ip === 'string' ? (t.ioc as TriageResult['ioc']) : undefined;
  return { severity, rule: str(t.rule) ?? 'incident', dedupeKey: str(t.dedupeKey), target, ioc };
}

export function formatBytes(size: number): string {
  if (!Number.isFinite(size) || size < 0) return '? B';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = size;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

function actionLine(a: ActionOutcome): string {
  const name = escapeInlineCode(a.action || 'action', 80);
  // An AWS action sentinel could not run (no AWS client): the plan of what it would have done.
  if (isAwsNotConfigured({ status: a.status, details: a.details ?? {} })) {
    return `☁️ ${name} AWS not configured, plan only: ${escapeText(awsNotConfiguredSummary(a.summary).replace(/^[a-z0-9-]+ would /, 'would ') || 'no plan', 260, { singleLine: true })}`;
  }
  // A dry run (observe mode, an observe-only rule) shows what the action would have changed.
  if ((a.details as { dryRun?: unknown } | undefined)?.dryRun === true && a.status !== 'failed') {
    return `📝 ${name} planned (dry run): ${escapeText((a.summary || '').replace(/^dry run:\s*/, '') || 'no change', 260, { singleLine: true })}`;
  }
  const icon = STATUS_ICON[a.status] ?? '❔';
  return `${icon} ${name} ${escapeText(a.summary || a.status, 280, { singleLine: true })}`;
}

function decisionLine(d: Decision): string {
  const at = toDate(d.at);
  const parts = [
    `**${escapeText(d.decision, 40, { singleLine: true })}** by ${actorText(d.by, 80)}`,
    at ? discordTime(at, 'f') : escapeText(d.at, 40, { singleLine: true }),
    ...(d.action ? [escapeInlineCode(d.action, 60)] : []),
    ...(d.note ? [escapeText(d.note, 160, { singleLine: true })] : []),
  ];
  return parts.join(' · ');
}

function evidenceLine(e: EvidenceItem): string {
  const parts = [escapeInlineCode(e.kind || 'evidence', 60)];
  if (e.sha256 && /^[0-9a-f]{64}$/.test(e.sha256)) parts.push(`\`sha256:${e.sha256.slice(0, 12)}…\``);
  if (typeof e.size === 'number') parts.push(formatBytes(e.size));
  parts.push(escapeInlineCode(e.location || '?', 260));
  return parts.join(' · ');
}

function sections(incident: ReportIncident): Section[] {
  const cap = (line: string) => truncateText(line, LINE_MAX);
  return [
    { name: 'Actions', lines: incident.actions.map(actionLine).map(cap) },
    { name: 'Decisions', lines: incident.decisions.map(decisionLine).map(cap) },
    { name: 'Evidence', lines: incident.manifest.map(evidenceLine).map(cap) },
  ];
}

function outcome(incident: ReportIncident): { failed: boolean; text: string } {
  const failedActions = incident.actions.filter((a) => a.status === 'failed').length;
  const failed = Boolean(incident.error) || failedActions > 0;
  const counts = `${incident.actions.length} action(s), ${incident.decisions.length} decision(s), ${incident.manifest.length} evidence item(s)`;
  return { failed, text: `**Outcome:** ${failed ? `❌ failed${failedActions ? ` (${failedActions} action(s) failed)` : ''}` : '✅ completed'} — ${counts}` };
}

function headerEmbed(input: ReportInput): APIEmbed {
  const { incident } = input;
  const facts = triageFacts(incident.triage);
  const fields: APIEmbedField[] = [{ name: 'Route', value: escapeInlineCode(incident.route || '?', 100), inline: true }];
  const where = [facts.target.node, facts.target.instanceId, [facts.target.namespace, facts.target.pod].filter((x) => typeof x === 'string').join('/')]
    .map(str)
    .filter((x): x is string => x !== undefined);
  if (where.length) fields.push({ name: 'Target', value: where.map((w) => escapeInlineCode(w, 300)).join('\n'), inline: true });
  if (facts.ioc) fields.push({ name: 'IoC', value: iocText(facts.ioc), inline: true });
  const started = toDate(incident.startTime);
  if (started) fields.push({ name: 'Started', value: whenText(started), inline: true });
  if (typeof incident.repeats === 'number' && incident.repeats > 1) fields.push({ name: 'Repeats', value: `seen ${Math.floor(incident.repeats)} times`, inline: true });
  if (incident.error) {
    const text = incident.error.cause ? `${incident.error.error}\ncause: ${incident.error.cause}` : incident.error.error;
    fields.push({ name: 'Error', value: escapeCodeBlock(text, 600) });
  }
  fields.push({ name: 'Record', value: input.record?.location ? escapeInlineCode(input.record.location, 600) : 'not recorded' });
  const footer = [incident.incidentId ? `incident ${incident.incidentId}` : undefined, incident.executionName, facts.dedupeKey].filter(Boolean).join(' · ');
  return fitEmbed(
    {
      title: triageTitle(facts.severity, facts.rule, 'Report: '),
      description: outcome(incident).text,
      color: severityColor(facts.severity),
      ...(footer ? { footer: { text: escapePlain(footer, 300) } } : {}),
      fields,
    },
    { budget: 3000 },
  );
}

/** A whole number in 1..max (the fallback for anything else). */
function clampCount(value: number | undefined, fallback: number, max: number): number {
  return value !== undefined && Number.isFinite(value) ? Math.min(max, Math.max(1, Math.floor(value))) : fallback;
}

function layout(input: ReportInput, options: ReportOptions): Layout {
  const maxEmbeds = clampCount(options.maxEmbeds, LIMITS.embedsPerMessage, LIMITS.embedsPerMessage);
  const header = headerEmbed(input);
  const embeds: APIEmbed[] = [header];
  let used = embedLength(header) + NOTE_RESERVE;
  const overflow: Layout['overflow'] = [];
  let current = header;

  const addField = (field: APIEmbedField): boolean => {
    const cost = field.name.length + field.value.length;
    if (used + cost > LIMITS.embedTotal) return false;
    if ((current.fields?.length ?? 0) >= LIMITS.embedFields) {
      if (embeds.length >= maxEmbeds) return false;
      current = { color: header.color, fields: [] };
      embeds.push(current);
    }
    current.fields = [...(current.fields ?? []), field];
    used += cost;
    return true;
  };

  let stopped = false;
  for (const section of sections(input.incident)) {
    if (stopped) {
      if (section.lines.length) overflow.push({ section, from: 0 });
      continue;
    }
    if (section.lines.length === 0) {
      if (!addField({ name: section.name, value: 'none' })) stopped = true;
      continue;
    }
    let i = 0;
    while (i < section.lines.length) {
      const start = i;
      let value = '';
      while (i < section.lines.length) {
        const line = section.lines[i] ?? '';
        const next = value ? `${value}\n${line}` : line;
        if (next.length > LIMITS.fieldValue || used + NAME_RESERVE + next.length > LIMITS.embedTotal) break;
        value = next;
        i += 1;
      }
      const total = section.lines.length;
      const name = start === 0 && i === total ? section.name : `${section.name} (${start + 1}–${i} of ${total})`;
      if (!value || !addField({ name, value })) {
        i = start;
        stopped = true;
        break;
      }
    }
    if (i < section.lines.length) overflow.push({ section, from: i });
  }

  if (overflow.length) {
    const left = overflow.reduce((n, o) => n + o.section.lines.length - o.from, 0);
    const which = overflow.map((o) => o.section.name.toLowerCase()).join(', ');
    header.description = `${header.description ?? ''}\n…${left} more line(s) (${which}) follow in the thread.`;
  }
  return { embeds: embeds.map((e) => fitEmbed(e)), overflow };
}

/**
 * The report message: a header embed (outcome, route, target, error, where it is recorded) and
 * the actions, decisions and evidence as fields, over at most `maxEmbeds` embeds within Discord's
 * 6000-character total. Lines that do not fit come from `renderReportFollowUps`.
 */
export function renderReport(input: ReportInput, options: ReportOptions = {}): RenderedMessage {
  return message(layout(input, options).embeds);
}

/**
 * The lines `renderReport` could not fit, as plain messages for the incident's thread (each at
 * most 2000 characters), at most `maxFollowUps` of them; the last says what was left out.
 */
export function renderReportFollowUps(input: ReportInput, options: ReportOptions = {}): RenderedMessage[] {
  const maxFollowUps = clampCount(options.maxFollowUps, 20, Number.MAX_SAFE_INTEGER);
  const { overflow } = layout(input, options);
  const messages: Array<{ content: string; lines: number }> = [];
  let content = '';
  let lines = 0;
  for (const { section, from } of overflow) {
    const total = section.lines.length;
    for (let i = from; i < total; i += 1) {
      const line = section.lines[i] ?? '';
      const heading = `**${section.name}** (continued, ${i + 1}–${total} of ${total})`;
      const piece = i === from || !content ? `${heading}\n${line}` : line;
      if (content && content.length + 1 + piece.length > LIMITS.content) {
        messages.push({ content, lines });
        content = `${heading}\n${line}`;
        lines = 1;
      } else {
        content = content ? `${content}\n${piece}` : piece;
        lines += 1;
      }
    }
  }
  if (content) messages.push({ content, lines });
  if (messages.length > maxFollowUps) {
    const kept = messages.slice(0, maxFollowUps - 1);
    const left = messages.slice(maxFollowUps - 1).reduce((n, m) => n + m.lines, 0);
    const where = input.record?.location ? ` The full list is in the incident record: ${escapeInlineCode(input.record.location, 1500)}` : '';
    kept.push({ content: `…${left} more line(s) not posted.${where}`, lines: 0 });
    return kept.map((m) => ({ ...message([]), content: m.content }));
  }
  return messages.map((m) => ({ ...message([]), content: m.content }));
}
