import { canonicalIp } from '../net/ipAddress.js';
import { z } from 'zod';
import { combineMatches, notRunWarnings, outcomeOf, ruleLabel, type RuleMatch } from './combineMatches.js';
import { dedupeKey } from './dedupeKey.js';
import type { ExplainedCheck, ExplainedRule, Explanation } from './explanation.js';
import { severityOfGuardDutyScore } from './falcoPriority.js';
import { isValidFieldValue } from './fieldTypes.js';
import { planSteps } from './planSteps.js';
import type { GuardDutyRuleConfig, PlaybookConfig } from './playbookConfig.js';
import type { Ioc, Route, Target, TriageResult } from './types.js';

const remoteIp = z.object({ ipAddressV4: z.string().nullish(), ipAddressV6: z.string().nullish() }).loose();
const severity = z.union([z.number(), z.string().regex(/^\s*\d+(\.\d+)?\s*$/, 'a number').transform(Number)]);

const findingSchema = z
  .object({
    id: z.string().min(1),
    type: z.string().min(1),
    severity: severity.pipe(z.number().min(0).max(10)),
    accountId: z.string().nullish(),
    region: z.string().nullish(),
    title: z.string().nullish(),
    updatedAt: z.string().nullish(),
    createdAt: z.string().nullish(),
    resource: z
      .object({
        resourceType: z.string().min(1),
        instanceDetails: z
          .object({
            instanceId: z.string().nullish(),
            networkInterfaces: z.array(z.object({ privateDnsName: z.string().nullish() }).loose()).nullish(),
          })
          .loose()
          .nullish(),
        kubernetesDetails: z
          .object({
            kubernetesWorkloadDetails: z.object({ name: z.string().nullish(), namespace: z.string().nullish(), type: z.string().nullish() }).loose().nullish(),
          })
          .loose()
          .nullish(),
      })
      .loose(),
    service: z
      .object({
        count: z.number().nullish(),
        action: z
          .object({
            networkConnectionAction: z
              .object({ remoteIpDetails: remoteIp.nullish(), remotePortDetails: z.object({ port: z.number().nullish() }).loose().nullish() })
              .loose()
              .nullish(),
            awsApiCallAction: z.object({ remoteIpDetails: remoteIp.nullish() }).loose().nullish(),
            kubernetesApiCallAction: z.object({ remoteIpDetails: remoteIp.nullish() }).loose().nullish(),
            portProbeAction: z.object({ portProbeDetails: z.array(z.object({ remoteIpDetails: remoteIp.nullish() }).loose()).nullish() }).loose().nullish(),
          })
          .loose()
          .nullish(),
      })
      .loose()
      .nullish(),
  })
  .loose();

export type GuardDutyFinding = z.output<typeof findingSchema>;

const eventSchema = z.object({ 'detail-type': z.literal('GuardDuty Finding'), time: z.string().nullish(), detail: findingSchema }).loose();

/** A finding as the GuardDuty API and SDKs return it (GetFindings): the same members, capitalized. */
function isPascalCaseFinding(v: Record<string, unknown>): boolean {
  return 'SchemaVersion' in v && 'Resource' in v && 'Severity' in v;
}

/** True for an EventBridge GuardDuty event, or a bare finding (as EventBridge or GetFindings writes it). */
export function looksLikeGuardDuty(v: Record<string, unknown>): boolean {
  return v['detail-type'] === 'GuardDuty Finding' || v.source === 'aws.guardduty' || ('schemaVersion' in v && 'resource' in v && 'severity' in v) || isPascalCaseFinding(v);
}

const MAX_DEPTH = 64;

/**
 * GetFindings' `AccountId`, `Resource.InstanceDetails`… as EventBridge's `accountId`,
 * `resource.instanceDetails`…: each key's first letter lowercased, values unchanged.
 */
function camelCaseKeys(v: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => camelCaseKeys(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k.charAt(0).toLowerCase() + k.slice(1)] = camelCaseKeys(x, depth + 1);
  return out;
}

const list = (values: readonly string[]) => `[${values.map((v) => JSON.stringify(v)).join(', ')}]`;

/** Checks one rule; with `full` every condition is described, otherwise checking stops at the first failure. */
function checkRule(rule: GuardDutyRuleConfig, f: GuardDutyFinding, full: boolean): { matched: boolean; checks: ExplainedCheck[] } {
  const m = rule.match;
  const checks: ExplainedCheck[] = [];
  let ok = true;
  const check = (condition: string, pass: boolean, value: string): boolean => {
    if (full) checks.push({ condition, ok: pass, value });
    ok &&= pass;
    return ok || full;
  };
  if (m.type && !check(`type in ${list(m.type)}`, m.type.includes(f.type), JSON.stringify(f.type))) return { matched: false, checks };
  if (m.typePrefix && !check(`type starts with one of ${list(m.typePrefix)}`, m.typePrefix.some((p) => f.type.startsWith(p)), JSON.stringify(f.type))) return { matched: false, checks };
  if (m.resourceType && !check(`resourceType in ${list(m.resourceType)}`, m.resourceType.includes(f.resource.resourceType), JSON.stringify(f.resource.resourceType))) return { matched: false, checks };
  if (m.minSeverity !== undefined && !check(`severity >= ${m.minSeverity}`, f.severity >= m.minSeverity, String(f.severity))) return { matched: false, checks };
  return { matched: ok, checks };
}

function ipOf(d: z.output<typeof remoteIp> | null | undefined): string | undefined {
  const ip = d?.ipAddressV4 ?? d?.ipAddressV6 ?? undefined;
  // One canonical form (sentinel's IP module): the dedupe key, the block and the list agree on it.
  return ip ? canonicalIp(ip) : undefined;
}

function findIoc(f: GuardDutyFinding): Ioc | undefined {
  const a = f.service?.action;
  const net = a?.networkConnectionAction;
  const netIp = ipOf(net?.remoteIpDetails);
  if (netIp) {
    const port = net?.remotePortDetails?.port;
    return port && port >= 1 && port <= 65535 ? { ip: netIp, port } : { ip: netIp };
  }
  const ip = ipOf(a?.awsApiCallAction?.remoteIpDetails) ?? ipOf(a?.kubernetesApiCallAction?.remoteIpDetails) ?? ipOf(a?.portProbeAction?.portProbeDetails?.[0]?.remoteIpDetails);
  return ip ? { ip } : undefined;
}

export type GuardDutyTriage = { ok: true; result: TriageResult; explanation?: Explanation } | { ok: false; error: string };

/** Validates and classifies a GuardDuty finding (EventBridge event, bare finding, or one finding of GetFindings output). */
export function triageGuardDuty(raw: Record<string, unknown>, config: PlaybookConfig, options: { explain?: boolean } = {}): GuardDutyTriage {
  const v = isPascalCaseFinding(raw) ? (camelCaseKeys(raw) as Record<string, unknown>) : raw;
  const isEvent = 'detail' in v || 'detail-type' in v;
  const parsed = isEvent ? eventSchema.safeParse(v) : findingSchema.safeParse(v);
  if (!parsed.success) {
    return { ok: false, error: `GuardDuty finding is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}` };
  }
  const f: GuardDutyFinding = isEvent ? (parsed.data as z.output<typeof eventSchema>).detail : (parsed.data as GuardDutyFinding);
  const warnings: string[] = [];
  const gd = config.guardduty;
  const belowThreshold = f.severity < gd.severityThreshold;
  const checked = gd.rules.map((r) => checkRule(r, f, options.explain === true));
  const matchedRules = belowThreshold ? [] : checked.flatMap((c, index): RuleMatch<GuardDutyRuleConfig>[] => (c.matched ? [{ index, rule: gd.rules[index]! }] : []));
  const combined = combineMatches<NonNullable<GuardDutyRuleConfig['route']>, GuardDutyRuleConfig>(matchedRules);
  const route: Route = belowThreshold ? 'ignore' : (combined.routeFrom?.rule.route ?? gd.defaultRoute);
  if (route !== 'ignore') warnings.push(...notRunWarnings(combined));

  const target: Target = {};
  const instanceId = f.resource.instanceDetails?.instanceId;
  if (instanceId) {
    if (/^i-[0-9a-f]{8,17}$/.test(instanceId)) target.instanceId = instanceId;
    else warnings.push('instanceId is not a valid EC2 instance id');
  }
  const dns = f.resource.instanceDetails?.networkInterfaces?.[0]?.privateDnsName;
  if (dns && isValidFieldValue('hostname', dns)) target.node = dns;
  const workload = f.resource.kubernetesDetails?.kubernetesWorkloadDetails;
  if (workload?.namespace && isValidFieldValue('k8sName', workload.namespace)) target.namespace = workload.namespace;
  if (workload?.name && workload.type?.toLowerCase() === 'pods' && isValidFieldValue('k8sName', workload.name)) target.pod = workload.name;
  if (route === 'forensics' && !target.instanceId) warnings.push('forensics needs an instance id and the finding has none');

  const ioc = findIoc(f);
  const context: Record<string, string> = { findingId: f.id, score: String(f.severity), resourceType: f.resource.resourceType };
  if (f.title) context.title = f.title.slice(0, 4096);
  if (f.accountId) context.account = f.accountId;
  if (f.region) context.region = f.region;
  if (typeof f.service?.count === 'number') context.count = String(f.service.count);

  const time = f.updatedAt ?? (isEvent ? (parsed.data as { time?: string | null }).time : undefined) ?? undefined;
  const result: TriageResult = {
    source: 'guardduty',
    rule: f.type,
    severity: severityOfGuardDutyScore(f.severity),
    route,
    target,
    ...(ioc ? { ioc } : {}),
    dedupeKey: dedupeKey('guardduty', { account: f.accountId, region: f.region, id: f.id }),
    steps: planSteps(route, { hasIoc: Boolean(ioc), hasArtifact: false }),
    ...(time ? { time } : {}),
    context,
    warnings,
    ...(combined.dryRun && route !== 'ignore' ? { observe: true as const } : {}),
  };
  if (!options.explain) return { ok: true, result };
  const rules = checked.map((c, index): ExplainedRule => {
    const r = gd.rules[index]!;
    return {
      rule: index + 1,
      ...(r.name ? { name: r.name } : {}),
      ...(r.route ? { route: r.route } : {}),
      ...(r.continue ? { continue: true as const } : {}),
      ...(r.dryRun ? { dryRun: true as const } : {}),
      outcome: outcomeOf(combined, index),
      checks: c.checks,
    };
  });
  const decision = belowThreshold
    ? [`severity ${f.severity} is below guardduty.severityThreshold (${gd.severityThreshold}): ignore (no rule is consulted)`]
    : [combined.routeFrom ? `route ${route} from ${ruleLabel(combined.routeFrom)}` : `route ${route}: guardduty.defaultRoute (no rule with a route matched)`, ...notRunWarnings(combined)];
  if (combined.dryRun && route !== 'ignore') decision.push('dry run: a matched rule has dryRun (or observe)');
  const event = [`type ${JSON.stringify(f.type)}`, `resourceType ${JSON.stringify(f.resource.resourceType)}`, `severity ${f.severity}`];
  return { ok: true, result, explanation: { event, rules, decision } };
}
