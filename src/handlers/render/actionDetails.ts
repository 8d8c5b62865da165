/**
 * An action result (preflight or outcome) as text: status, summary, and the plain facts in its
 * details (which NACL and rule number, which security groups, which policy…). Keys that name
 * secrets (tokens, passwords, credentials, signatures) and long opaque strings are never shown.
 */
import type { ActionResult } from '../../pipeline/actions/types.js';
import { escapeText, truncateText } from './escapeText.js';

/** Key names whose values are never rendered. */
export const SECRET_KEY = /token|secret|passw|credential|session|cookie|authori[sz]ation|api[-_]?key|private|signature|bearer/i;
/** An opaque string long enough to be a token (a Step Functions task token is hundreds of characters). */
export const OPAQUE_VALUE = /^[A-Za-z0-9+/=_.:-]{100,}$/;

/** Shown first, in this order; the rest follow alphabetically. */
const PREFERRED = [
  'networkAclId',
  'naclId',
  'ruleNumber',
  'cidr',
  'port',
  'protocol',
  'securityGroups',
  'securityGroupIds',
  'groupIds',
  'instanceId',
  'node',
  'namespace',
  'pod',
  'policyName',
  'cordon',
  'location',
  'reason',
];
/** Not worth a line (shown another way or internal). */
const HIDDEN = new Set(['dryRun', 'evidence', 'awsNotConfigured']);

type Scalar = string | number | boolean;

function isScalar(v: unknown): v is Scalar {
  return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean';
}

function safeScalar(v: Scalar): string | undefined {
  if (typeof v !== 'string') return String(v);
  return OPAQUE_VALUE.test(v) ? undefined : v;
}

/** `key: value` pairs of the details, secrets left out, nested objects flattened (two levels). */
export function detailPairs(details: unknown, prefix = '', depth = 0): Array<[string, string]> {
  if (typeof details !== 'object' || details === null || Array.isArray(details)) return [];
  const entries = Object.entries(details as Record<string, unknown>).filter(([k]) => !SECRET_KEY.test(k) && !HIDDEN.has(k));
  const rank = (k: string) => {
    const i = PREFERRED.indexOf(k);
    return i === -1 ? PREFERRED.length : i;
  };
  entries.sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  const out: Array<[string, string]> = [];
  for (const [key, value] of entries) {
    const name = prefix + key;
    if (value === undefined || value === null) continue;
    if (isScalar(value)) {
      const s = safeScalar(value);
      if (s !== undefined && s !== '') out.push([name, s]);
    } else if (Array.isArray(value)) {
      const parts = value
        .map((item) => {
          if (isScalar(item)) return safeScalar(item);
          if (depth < 1 && typeof item === 'object' && item !== null) {
            const inner = detailPairs(item, '', depth + 1).map(([k, v]) => `${k}=${v}`);
            return inner.length ? inner.join(' ') : undefined;
          }
          return undefined;
        })
        .filter((p): p is string => p !== undefined && p !== '');
      if (parts.length) out.push([name, parts.join(', ')]);
    } else if (depth < 1 && typeof value === 'object') {
      out.push(...detailPairs(value, `${name}.`, depth + 1));
    }
  }
  return out;
}

const STATUS_ICON = { succeeded: '✅', skipped: '⏭️', failed: '❌' } as const;

/** An action that did not run because sentinel has no AWS client for it: its result is its plan (planWithoutAws.ts). */
export function isAwsNotConfigured(result: Pick<ActionResult<object>, 'status' | 'details'>): boolean {
  return result.status !== 'failed' && (result.details as { awsNotConfigured?: unknown } | undefined)?.awsNotConfigured === true;
}

/** The summary of an AWS-not-configured result without its `AWS not configured: ` prefix (the status says it). */
export function awsNotConfiguredSummary(summary: string | undefined): string {
  return (summary ?? '').replace(/^AWS not configured:\s*/, '');
}

/** `✅ succeeded`, `☁️ AWS not configured: plan only`, `📝 planned (dry run)`, `⏭️ skipped`, `❌ failed`. */
export function statusText(result: Pick<ActionResult<object>, 'status' | 'details'>): string {
  if (isAwsNotConfigured(result)) return '☁️ AWS not configured: plan only';
  const dryRun = (result.details as { dryRun?: unknown } | undefined)?.dryRun === true;
  if (dryRun && result.status !== 'failed') return '📝 planned (dry run)';
  const icon = Object.hasOwn(STATUS_ICON, result.status) ? STATUS_ICON[result.status] : '❔';
  return `${icon} ${escapeText(String(result.status), 40, { singleLine: true })}`;
}

/**
 * Status, summary and detail lines within `limit` characters (detail lines that do not fit are
 * counted in a last line, never cut in the middle of one).
 */
export function actionResultText(result: ActionResult<object>, limit: number): string {
  const dryRun = (result.details as { dryRun?: unknown } | undefined)?.dryRun === true;
  const notConfigured = isAwsNotConfigured(result);
  const summary = notConfigured ? awsNotConfiguredSummary(result.summary) : dryRun ? (result.summary ?? '').replace(/^dry run:\s*/, '') : result.summary;
  const head = `${statusText(result)}: ${escapeText(summary || '(no summary)', Math.max(64, Math.floor(limit / 2)))}`;
  // The plan's input and what the action needs, as lines (the input would be too deep for detailPairs).
  const plan = (result.details as { plan?: { input?: unknown; needs?: unknown; iam?: unknown } } | undefined)?.plan;
  const facts = notConfigured && plan ? { ...(typeof plan.input === 'object' && plan.input !== null ? plan.input : {}), needs: plan.needs, iam: plan.iam } : result.details;
  const lines = detailPairs(facts).map(([k, v]) => `• ${escapeText(k, 60, { singleLine: true })}: ${escapeText(v, 200, { singleLine: true })}`);
  let text = head;
  let shown = 0;
  for (const line of lines) {
    const more = lines.length - shown - 1;
    const reserve = more > 0 ? 24 : 0;
    if (text.length + 1 + line.length + reserve > limit) break;
    text += `\n${line}`;
    shown += 1;
  }
  if (shown < lines.length) {
    const note = `\n…and ${lines.length - shown} more detail${lines.length - shown === 1 ? '' : 's'}`;
    if (text.length + note.length <= limit) text += note;
  }
  return truncateText(text, limit);
}
