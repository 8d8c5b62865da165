/**
 * Embed pieces shared by the incident, approval and notify messages: the title, the target
 * (node, namespace, pod, container, instance), who and what ran (user, process, command line),
 * the IoC and the file. Only these named context keys are ever shown; nothing else in
 * `triage.context` reaches Discord.
 */
import { isIP } from 'node:net';
import type { Ioc, Severity, TriageResult } from '../../pipeline/triage/types.js';
import { escapeCodeBlock, escapeInlineCode, escapePlain, escapeText } from './escapeText.js';
import { LIMITS } from './limits.js';
import type { RankedField } from './payload.js';
import { toDate } from './payload.js';

const SEVERITY_LABEL: Readonly<Record<Severity, string>> = { critical: 'CRITICAL', high: 'HIGH', medium: 'MEDIUM', low: 'LOW', info: 'INFO' };

export function severityLabel(severity: Severity): string {
  return Object.hasOwn(SEVERITY_LABEL, severity) ? SEVERITY_LABEL[severity] : 'UNKNOWN';
}

/** `[SEVERITY] rule` (the rule escaped, single line), within the title limit. */
export function triageTitle(severity: Severity, rule: string, prefix = ''): string {
  const head = `${prefix}[${severityLabel(severity)}] `;
  return head + escapeText(rule || 'unnamed rule', LIMITS.embedTitle - head.length, { singleLine: true });
}

/** `ip:port` (or `[v6]:port`) as inline code; anything that is not an IP is escaped instead. */
export function iocText(ioc: Ioc): string {
  const port = Number.isInteger(ioc.port) && (ioc.port ?? 0) >= 1 && (ioc.port ?? 0) <= 65535 ? ioc.port : undefined;
  const family = isIP(ioc.ip);
  if (family === 0) return escapeInlineCode(`${ioc.ip}${port ? `:${port}` : ''}`, 200);
  const host = family === 6 && port ? `[${ioc.ip}]` : ioc.ip;
  return `\`${host}${port ? `:${port}` : ''}\``;
}

const VALUE = LIMITS.fieldValue;

/**
 * Importance of the triage fields (higher is kept longer when an embed is too big). Builders rank
 * their own fields around these: status and route above 90, plan and warnings below 50.
 */
export const TRIAGE_RANK = {
  ioc: 90,
  cluster: 84,
  node: 82,
  instance: 82,
  namespace: 81,
  pod: 80,
  commandLine: 75,
  container: 72,
  user: 70,
  file: 68,
  process: 65,
  custom: 60,
} as const;

/** Custom field keys that name the cluster (Falcosidekick's customfields, any case): shown first, as "Cluster". */
const CLUSTER_KEYS: ReadonlySet<string> = new Set(['cluster', 'cluster_name', 'clustername', 'k8s_cluster', 'eks_cluster']);
/** Custom fields shown besides the cluster; the rest stay in the record. */
const CUSTOM_SHOWN = 6;

/** Kubernetes names are at most 253 characters; anything longer is cut. */
const NAME_MAX = 300;

/**
 * Cluster (a custom field), node, namespace, pod, container, instance: each an inline field when
 * present; then the other custom fields the sender added (Falcosidekick's customfields).
 */
export function targetFields(triage: TriageResult): RankedField[] {
  const t = triage.target ?? {};
  const out: RankedField[] = [];
  const add = (name: string, value: string | undefined, rank: number) => {
    if (value !== undefined && value.trim() !== '') out.push({ name, value: escapeInlineCode(value, NAME_MAX), inline: true, rank });
  };
  const custom = Object.entries(triage.custom ?? {}).filter(([, v]) => typeof v === 'string');
  const cluster = custom.find(([k]) => CLUSTER_KEYS.has(k.toLowerCase()));
  if (cluster) add('Cluster', cluster[1], TRIAGE_RANK.cluster);
  add('Node', t.node, TRIAGE_RANK.node);
  add('Instance', t.instanceId, TRIAGE_RANK.instance);
  add('Namespace', t.namespace, TRIAGE_RANK.namespace);
  add('Pod', t.pod, TRIAGE_RANK.pod);
  add('Container', t.container, TRIAGE_RANK.container);
  for (const [k, v] of custom.filter((c) => c !== cluster).slice(0, CUSTOM_SHOWN)) add(escapeText(k, 64, { singleLine: true }), v, TRIAGE_RANK.custom);
  return out;
}

/** User, process (with parent) and the command line (a code block). */
export function contextFields(triage: TriageResult): RankedField[] {
  const c = triage.context ?? {};
  const out: RankedField[] = [];
  if (c.user && c.user.trim()) out.push({ name: 'User', value: escapeInlineCode(c.user, 200), inline: true, rank: TRIAGE_RANK.user });
  const proc = [c.proc, c.parent].filter((p): p is string => Boolean(p && p.trim())).map((p) => escapeInlineCode(p, 200));
  if (proc.length) out.push({ name: 'Process', value: proc.join(' ← '), inline: true, rank: TRIAGE_RANK.process });
  if (c.cmdline && c.cmdline.trim()) out.push({ name: 'Command line', value: escapeCodeBlock(c.cmdline, VALUE), rank: TRIAGE_RANK.commandLine });
  return out;
}

/** The IoC and the file (path, and where it came from). */
export function indicatorFields(triage: TriageResult): RankedField[] {
  const out: RankedField[] = [];
  if (triage.ioc) out.push({ name: 'IoC', value: iocText(triage.ioc), inline: true, rank: TRIAGE_RANK.ioc });
  if (triage.artifact?.path) {
    const src = triage.artifact.src ? `\nfrom ${escapeInlineCode(triage.artifact.src, 300)}` : '';
    out.push({ name: 'File', value: escapeInlineCode(triage.artifact.path, 600) + src, rank: TRIAGE_RANK.file });
  }
  return out;
}

/** The plan: the route's steps in order. */
export function planText(steps: readonly string[]): string {
  if (steps.length === 0) return 'nothing to do';
  return escapeText(steps.join(' → '), VALUE);
}

/** The event time as a Discord timestamp, when triage has a valid one. */
export function eventTime(triage: TriageResult): Date | undefined {
  return toDate(triage.time);
}

/** Footer: `incident <id> · <dedupe key>` (plain text; footers render no markdown). */
export function incidentFooter(incidentId: string, dedupeKey: string | undefined, extra?: string): { text: string } {
  const parts = [`incident ${incidentId}`, ...(dedupeKey ? [dedupeKey] : []), ...(extra ? [extra] : [])];
  return { text: escapePlain(parts.join(' · '), LIMITS.footerText) };
}
