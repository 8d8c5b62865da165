import { canonicalIp } from '../net/ipAddress.js';
import { z } from 'zod';
import { combineMatches, notRunWarnings, outcomeOf, ruleLabel, type RuleMatch } from './combineMatches.js';
import { dedupeKey } from './dedupeKey.js';
import type { ExplainedCheck, ExplainedRule, Explanation } from './explanation.js';
import { severityOfGuardDutyScore } from './falcoPriority.js';
import { isPlainIpv4, isValidFieldValue } from './fieldTypes.js';
import { isWellFormedGuardDutyEvent, isWellFormedGuardDutyFinding } from './isWellFormedGuardDuty.js';
import { planSteps } from './planSteps.js';
import type { GuardDutyRuleConfig, PlaybookConfig } from './playbookConfig.js';
import type { Artifact, Ioc, Route, Target, TriageResult } from './types.js';

const remoteIp = z.object({ ipAddressV4: z.string().nullish(), ipAddressV6: z.string().nullish() }).loose();
const severity = z.union([z.number(), z.string().regex(/^\s*\d+(\.\d+)?\s*$/, 'a number').transform(Number)]);
/** A number as GuardDuty writes it, or a numeric string: only ever shown. */
const shownNumber = z.union([z.number(), z.string()]).nullish();
/** GuardDuty's Container: in kubernetesWorkloadDetails.containers and as resource.containerDetails. */
const container = z.object({ name: z.string().nullish(), image: z.string().nullish(), id: z.string().nullish() }).loose();
/** Runtime Monitoring's ProcessDetails (service.runtimeDetails.process). */
const processDetails = z
  .object({
    name: z.string().nullish(),
    executablePath: z.string().nullish(),
    executableSha256: z.string().nullish(),
    pid: shownNumber,
    user: z.string().nullish(),
    lineage: z.array(z.object({ executablePath: z.string().nullish(), name: z.string().nullish() }).loose()).nullish(),
  })
  .loose();

export const findingSchema = z
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
            kubernetesWorkloadDetails: z
              .object({ name: z.string().nullish(), namespace: z.string().nullish(), type: z.string().nullish(), containers: z.array(container).nullish() })
              .loose()
              .nullish(),
            kubernetesUserDetails: z.object({ username: z.string().nullish() }).loose().nullish(),
          })
          .loose()
          .nullish(),
        eksClusterDetails: z.object({ name: z.string().nullish(), arn: z.string().nullish() }).loose().nullish(),
        containerDetails: container.nullish(),
      })
      .loose(),
    service: z
      .object({
        count: z.number().nullish(),
        featureName: z.string().nullish(),
        runtimeDetails: z
          .object({ process: processDetails.nullish(), context: z.object({ commandLineExample: z.string().nullish() }).loose().nullish() })
          .loose()
          .nullish(),
        action: z
          .object({
            networkConnectionAction: z
              .object({
                connectionDirection: z.string().nullish(),
                remoteIpDetails: remoteIp.nullish(),
                remotePortDetails: z.object({ port: z.number().nullish() }).loose().nullish(),
              })
              .loose()
              .nullish(),
            awsApiCallAction: z.object({ remoteIpDetails: remoteIp.nullish() }).loose().nullish(),
            kubernetesApiCallAction: z
              .object({ remoteIpDetails: remoteIp.nullish(), verb: z.string().nullish(), requestUri: z.string().nullish(), sourceIps: z.array(z.string()).nullish() })
              .loose()
              .nullish(),
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

export const eventSchema = z.object({ 'detail-type': z.literal('GuardDuty Finding'), time: z.string().nullish(), detail: findingSchema }).loose();

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

/** A rule that failed with nothing described (the common case without `full`). */
const NOT_MATCHED: { matched: boolean; checks: ExplainedCheck[] } = Object.freeze({ matched: false, checks: Object.freeze([]) as unknown as ExplainedCheck[] });

/**
 * Checks one rule; with `full` every condition is described, otherwise checking stops at the first
 * failure (and nothing is described: the descriptions are built only with `full`).
 */
function checkRule(rule: GuardDutyRuleConfig, f: GuardDutyFinding, full: boolean): { matched: boolean; checks: ExplainedCheck[] } {
  const m = rule.match;
  if (!full) {
    if (m.type && !m.type.includes(f.type)) return NOT_MATCHED;
    if (m.typePrefix && !m.typePrefix.some((p) => f.type.startsWith(p))) return NOT_MATCHED;
    if (m.resourceType && !m.resourceType.includes(f.resource.resourceType)) return NOT_MATCHED;
    if (m.minSeverity !== undefined && !(f.severity >= m.minSeverity)) return NOT_MATCHED;
    if (m.pod !== undefined && Boolean(podOf(f)) !== m.pod) return NOT_MATCHED;
    return { matched: true, checks: [] };
  }
  const checks: ExplainedCheck[] = [];
  let ok = true;
  const check = (condition: string, pass: boolean, value: string): void => {
    checks.push({ condition, ok: pass, value });
    ok &&= pass;
  };
  if (m.type) check(`type in ${list(m.type)}`, m.type.includes(f.type), JSON.stringify(f.type));
  if (m.typePrefix) check(`type starts with one of ${list(m.typePrefix)}`, m.typePrefix.some((p) => f.type.startsWith(p)), JSON.stringify(f.type));
  if (m.resourceType) check(`resourceType in ${list(m.resourceType)}`, m.resourceType.includes(f.resource.resourceType), JSON.stringify(f.resource.resourceType));
  if (m.minSeverity !== undefined) check(`severity >= ${m.minSeverity}`, f.severity >= m.minSeverity, String(f.severity));
  if (m.pod !== undefined) {
    const pod = podOf(f);
    check(m.pod ? 'names a pod' : 'names no pod', Boolean(pod) === m.pod, pod ? JSON.stringify(`${pod.namespace}/${pod.pod}`) : 'no pod');
  }
  return { matched: ok, checks };
}

/** `/^i-[0-9a-f]{8,17}$/` (an EC2 instance id), as a loop over the characters. */
function isInstanceId(s: string): boolean {
  if (s.length < 10 || s.length > 19 || s.charCodeAt(0) !== 105 /* i */ || s.charCodeAt(1) !== 45 /* - */) return false;
  for (let i = 2; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

const CONTAINER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The pod an EKS finding is about: Runtime Monitoring and EKS audit log findings name it in
 * kubernetesWorkloadDetails (type `pods`). Another workload type (a Deployment, a DaemonSet…)
 * names no single pod; neither does a name or namespace that is not a Kubernetes name.
 */
function podOf(f: GuardDutyFinding): { namespace: string; pod: string } | undefined {
  const w = f.resource.kubernetesDetails?.kubernetesWorkloadDetails;
  const type = w?.type?.toLowerCase();
  if (!w?.name || !w.namespace || (type !== 'pods' && type !== 'pod')) return undefined;
  if (!isValidFieldValue('k8sName', w.namespace) || w.namespace.length > 63 || !isValidFieldValue('k8sName', w.name)) return undefined;
  return { namespace: w.namespace, pod: w.name };
}

/** The finding is about Kubernetes (EKS Runtime Monitoring or EKS audit logs): it names a cluster, a workload or a Kubernetes user. */
function isKubernetesFinding(f: GuardDutyFinding): boolean {
  return Boolean(f.resource.eksClusterDetails || f.resource.kubernetesDetails);
}

/** The container the process ran in: the finding's containerDetails, else the workload's only container. */
function containerOf(f: GuardDutyFinding): string | undefined {
  const listed = f.resource.kubernetesDetails?.kubernetesWorkloadDetails?.containers ?? [];
  const name = f.resource.containerDetails?.name ?? (listed.length === 1 ? listed[0]?.name : undefined);
  return name && CONTAINER_NAME.test(name) ? name : undefined;
}

/** An absolute path as a file step takes it (no NUL, at most 4096 characters). */
function filePath(path: string | null | undefined): string | undefined {
  return path && path.startsWith('/') && path.length <= 4096 && !path.includes('\0') ? path : undefined;
}

function ipOf(d: z.output<typeof remoteIp> | null | undefined): string | undefined {
  const ip = d?.ipAddressV4 ?? d?.ipAddressV6 ?? undefined;
  // One canonical form (sentinel's IP module): the dedupe key, the block and the list agree on it.
  // Plain dotted IPv4 is its own canonical form.
  return ip ? (isPlainIpv4(ip) ? ip : canonicalIp(ip)) : undefined;
}

/**
 * The finding's remote IP. A Kubernetes finding's IoC is only the remote end of a connection (a
 * Runtime Monitoring network finding): the address of an EKS audit log finding is whoever called
 * the Kubernetes API, which triage keeps as context (`callerIp`), not as an address to block.
 */
function findIoc(f: GuardDutyFinding): Ioc | undefined {
  const a = f.service?.action;
  const net = a?.networkConnectionAction;
  const netIp = ipOf(net?.remoteIpDetails);
  if (netIp) {
    const port = net?.remotePortDetails?.port;
    return port && port >= 1 && port <= 65535 ? { ip: netIp, port } : { ip: netIp };
  }
  if (isKubernetesFinding(f)) return undefined;
  const ip = ipOf(a?.awsApiCallAction?.remoteIpDetails) ?? ipOf(a?.kubernetesApiCallAction?.remoteIpDetails) ?? ipOf(a?.portProbeAction?.portProbeDetails?.[0]?.remoteIpDetails);
  return ip ? { ip } : undefined;
}

/** What an EKS finding tells beyond the target: the cluster, the process, the API call. Only ever shown. */
function kubernetesContext(f: GuardDutyFinding, out: Record<string, string>): void {
  const put = (k: string, v: string | number | null | undefined, max = 1024) => {
    if (v !== undefined && v !== null && String(v).trim() !== '') out[k] = String(v).slice(0, max);
  };
  const cluster = f.resource.eksClusterDetails;
  put('cluster', cluster?.name, 100);
  put('clusterArn', cluster?.arn, 2048);
  const process = f.service?.runtimeDetails?.process;
  put('proc', process?.executablePath ?? process?.name, 4096);
  put('parent', process?.lineage?.[0]?.executablePath ?? process?.lineage?.[0]?.name, 4096);
  put('pid', process?.pid);
  put('exeSha256', process?.executableSha256, 64);
  put('cmdline', f.service?.runtimeDetails?.context?.commandLineExample, 4096);
  const api = f.service?.action?.kubernetesApiCallAction;
  put('user', process?.user ?? f.resource.kubernetesDetails?.kubernetesUserDetails?.username, 256);
  const caller = ipOf(api?.remoteIpDetails) ?? api?.sourceIps?.map((ip) => canonicalIp(ip)).find(Boolean);
  put('callerIp', caller, 64);
  put('apiCall', api?.verb && api.requestUri ? `${api.verb} ${api.requestUri}` : undefined, 2048);
  const image = f.resource.containerDetails?.image ?? f.resource.kubernetesDetails?.kubernetesWorkloadDetails?.containers?.[0]?.image;
  put('image', image, 1024);
  put('feature', f.service?.featureName, 64);
}

export type GuardDutyTriage = { ok: true; result: TriageResult; explanation?: Explanation } | { ok: false; error: string };

/** Validates and classifies a GuardDuty finding (EventBridge event, bare finding, or one finding of GetFindings output). */
export function triageGuardDuty(raw: Record<string, unknown>, config: PlaybookConfig, options: { explain?: boolean } = {}): GuardDutyTriage {
  const v = isPascalCaseFinding(raw) ? (camelCaseKeys(raw) as Record<string, unknown>) : raw;
  const isEvent = 'detail' in v || 'detail-type' in v;
  // Well-formed input is read as it is; the schema (which copies it) only for the rest, and for the error.
  const parsed = isEvent
    ? isWellFormedGuardDutyEvent(v)
      ? { success: true as const, data: v as z.output<typeof eventSchema> }
      : eventSchema.safeParse(v)
    : isWellFormedGuardDutyFinding(v)
      ? { success: true as const, data: v as GuardDutyFinding }
      : findingSchema.safeParse(v);
  if (!parsed.success) {
    return { ok: false, error: `GuardDuty finding is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}` };
  }
  const f: GuardDutyFinding = isEvent ? (parsed.data as z.output<typeof eventSchema>).detail : (parsed.data as GuardDutyFinding);
  const warnings: string[] = [];
  const gd = config.guardduty;
  const belowThreshold = f.severity < gd.severityThreshold;
  const full = options.explain === true;
  const checked: { matched: boolean; checks: ExplainedCheck[] }[] = [];
  const matchedRules: RuleMatch<GuardDutyRuleConfig>[] = [];
  for (let index = 0; index < gd.rules.length; index++) {
    const c = checkRule(gd.rules[index]!, f, full);
    checked.push(c);
    if (c.matched && !belowThreshold) matchedRules.push({ index, rule: gd.rules[index]! });
  }
  const combined = combineMatches<NonNullable<GuardDutyRuleConfig['route']>, GuardDutyRuleConfig>(matchedRules);
  const route: Route = belowThreshold ? 'ignore' : (combined.routeFrom?.rule.route ?? gd.defaultRoute);
  if (route !== 'ignore') warnings.push(...notRunWarnings(combined));

  const target: Target = {};
  const instanceId = f.resource.instanceDetails?.instanceId;
  if (instanceId) {
    if (isInstanceId(instanceId)) target.instanceId = instanceId;
    else warnings.push('instanceId is not a valid EC2 instance id');
  }
  const dns = f.resource.instanceDetails?.networkInterfaces?.[0]?.privateDnsName;
  if (dns && isValidFieldValue('hostname', dns)) target.node = dns;
  const workload = f.resource.kubernetesDetails?.kubernetesWorkloadDetails;
  if (workload?.namespace && isValidFieldValue('k8sName', workload.namespace)) target.namespace = workload.namespace;
  const pod = podOf(f);
  if (pod) target.pod = pod.pod;
  else if (workload?.name && workload.type) warnings.push(`the finding names a workload of type ${workload.type.slice(0, 64)}, not a pod: pod actions need the pod`);
  const container = pod ? containerOf(f) : undefined;
  if (container) target.container = container;
  if (route === 'forensics' && !target.instanceId) warnings.push('forensics needs an instance id and the finding has none');

  const kubernetes = isKubernetesFinding(f);
  const ioc = findIoc(f);
  // The process's executable, when the finding names one in a pod: the pod playbook extracts and quarantines it (if it is still there).
  const exe = pod ? filePath(f.service?.runtimeDetails?.process?.executablePath) : undefined;
  const artifact: Artifact | undefined = exe ? { path: exe } : undefined;
  const context: Record<string, string> = { findingId: f.id, score: String(f.severity), resourceType: f.resource.resourceType };
  if (kubernetes) kubernetesContext(f, context);
  if (f.title) context.title = f.title.slice(0, 4096);
  if (f.accountId) context.account = f.accountId;
  if (f.region) context.region = f.region;
  if (typeof f.service?.count === 'number') context.count = String(f.service.count);

  const time = f.updatedAt ?? (isEvent ? (parsed.data as { time?: string | null }).time : undefined) ?? undefined;
  // Built in key order without spreads (this runs for every event).
  const result = { source: 'guardduty', rule: f.type, severity: severityOfGuardDutyScore(f.severity), route, target } as TriageResult;
  if (ioc) result.ioc = ioc;
  if (artifact) result.artifact = artifact;
  result.dedupeKey = dedupeKey('guardduty', { account: f.accountId, region: f.region, id: f.id });
  result.steps = planSteps(route, { hasIoc: Boolean(ioc), hasArtifact: Boolean(artifact), hasPod: Boolean(target.namespace && target.pod), hasNode: Boolean(target.node ?? target.instanceId) });
  if (time) result.time = time;
  result.context = context;
  result.warnings = warnings;
  if (combined.dryRun && route !== 'ignore') result.observe = true;
  // The EKS cluster, shown first in embeds (as Falcosidekick's cluster custom field is).
  if (context.cluster) result.custom = { cluster: context.cluster };
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
  const event = [`type ${JSON.stringify(f.type)}`, `resourceType ${JSON.stringify(f.resource.resourceType)}`, `severity ${f.severity}`, ...(pod ? [`pod ${JSON.stringify(`${pod.namespace}/${pod.pod}`)}`] : [])];
  return { ok: true, result, explanation: { event, rules, decision } };
}
