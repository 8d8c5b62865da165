import { canonicalIp } from '../net/ipAddress.js';
import { z } from 'zod';
import { dedupeKey } from './dedupeKey.js';
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

/** True for an EventBridge GuardDuty event, or a bare finding. */
export function looksLikeGuardDuty(v: Record<string, unknown>): boolean {
  return v['detail-type'] === 'GuardDuty Finding' || v.source === 'aws.guardduty' || ('schemaVersion' in v && 'resource' in v && 'severity' in v);
}

function matches(rule: GuardDutyRuleConfig, f: GuardDutyFinding): boolean {
  const m = rule.match;
  if (m.type && !m.type.includes(f.type)) return false;
  if (m.typePrefix && !m.typePrefix.some((p) => f.type.startsWith(p))) return false;
  if (m.resourceType && !m.resourceType.includes(f.resource.resourceType)) return false;
  if (m.minSeverity !== undefined && f.severity < m.minSeverity) return false;
  return true;
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

export type GuardDutyTriage = { ok: true; result: TriageResult } | { ok: false; error: string };

/** Validates and classifies a GuardDuty finding (EventBridge event or bare finding). */
export function triageGuardDuty(v: Record<string, unknown>, config: PlaybookConfig): GuardDutyTriage {
  const isEvent = 'detail' in v || 'detail-type' in v;
  const parsed = isEvent ? eventSchema.safeParse(v) : findingSchema.safeParse(v);
  if (!parsed.success) {
    return { ok: false, error: `GuardDuty finding is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}` };
  }
  const f: GuardDutyFinding = isEvent ? (parsed.data as z.output<typeof eventSchema>).detail : (parsed.data as GuardDutyFinding);
  const warnings: string[] = [];
  const gd = config.guardduty;
  const matched = f.severity < gd.severityThreshold ? undefined : gd.rules.find((r) => matches(r, f));
  const route: Route = f.severity < gd.severityThreshold ? 'ignore' : (matched?.route ?? gd.defaultRoute);

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
  return {
    ok: true,
    result: {
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
      ...(matched?.observe && route !== 'ignore' ? { observe: true as const } : {}),
    },
  };
}
