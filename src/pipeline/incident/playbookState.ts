import { z } from 'zod';
import type { TriageResult } from '../triage/types.js';
import { incidentInputSchema, type IncidentInput } from './incidentRecord.js';

/** Settings of the EC2 forensics playbook (route `forensics`); every one optional. */
export interface ForensicsPlaybookSettings {
  /**
   * The forensic workstation collect-disk mounts the snapshots on (tagged sentinel:forensic=true,
   * managed by SSM). Without one (or when it is the compromised instance) collect-disk is skipped.
   */
  forensicInstanceId?: string;
  /** Bucket of LiME modules built per kernel (`<prefix>/<kernel-release>/lime.ko`). Without it capture-memory fails and a waiver is asked. */
  limeModuleBucket?: string;
  /** Key prefix of the LiME modules; default `lime`. */
  limeModulePrefix?: string;
  /** Seconds the LiME capture may run (capture-memory `timeoutSeconds`); default 3600. The task waits 900 s longer. */
  memoryCaptureTimeoutSeconds?: number;
  /** Web roots for collect-volatile and collect-disk; the actions' default (`/var/www`) when absent. */
  webRoots?: string[];
  /** preserve-disk also registers an AMI (CreateImage, NoReboot); default false. */
  createAmi?: boolean;
  /** The isolation step also stops the instance; `SENTINEL_ISOLATE_STOP_INSTANCE` decides when absent. */
  stopInstance?: boolean;
  /** CloudTrail (and analysis) window: from this many minutes before the finding; default 1440. */
  cloudTrailLookbackMinutes?: number;
  /** ... to this many minutes after the playbook starts (events arrive late); default 60. */
  cloudTrailLookaheadMinutes?: number;
}

export interface PlaybookSettings {
  approvalTimeoutSeconds: number;
  /** What happens when nobody answers an approval in time. */
  defaultDecision: 'allow' | 'block';
  /**
   * HeartbeatSeconds of the long steps (collect-volatile, capture-memory, collect-disk): the bot
   * heartbeats at a third of it while they run, so a dead bot fails the step within it.
   */
  heartbeatSeconds?: number;
  /** Observe mode (SENTINEL_MODE=observe): every action of the playbook is a dry run. */
  observe?: boolean;
  /** The EC2 forensics playbook; its defaults when absent. */
  forensics?: ForensicsPlaybookSettings;
}

export const DEFAULT_LIME_MODULE_PREFIX = 'lime';
export const DEFAULT_STEP_HEARTBEAT_SECONDS = 120;
export const DEFAULT_MEMORY_CAPTURE_TIMEOUT_SECONDS = 3600;
/** How much longer the CaptureMemory task waits than the capture may run (SSM, uname, read-back). */
export const CAPTURE_MEMORY_TASK_MARGIN_SECONDS = 900;
export const DEFAULT_CLOUDTRAIL_LOOKBACK_MINUTES = 1440;
export const DEFAULT_CLOUDTRAIL_LOOKAHEAD_MINUTES = 60;
/** CloudTrail event history (and pull-cloudtrail's window) spans at most 90 days. */
const MAX_WINDOW_MS = 90 * 86_400_000;
const MINUTE_MS = 60_000;
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const FINDING_ID = /^[A-Za-z0-9:/._-]{1,128}$/;

function clampInt(value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || !Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, Math.round(value)));
}

/** A time as event sources write it (micro- or nanoseconds, `+0000` offsets), or undefined. */
function parseTime(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const t = Date.parse(text.replace(/(\.\d{3})\d+/, '$1').replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
  return Number.isFinite(t) ? t : undefined;
}

/**
 * The window the forensics playbook looks at (CloudTrail, analysis): from `lookback` minutes
 * before the event (the incident start when the event has no usable time, or one in the future)
 * to `lookahead` minutes after now, at most 90 days.
 */
export function forensicsWindow(args: { triage: TriageResult; startTime: string; now: Date; settings?: ForensicsPlaybookSettings | undefined }): { since: string; until: string } {
  const now = args.now.getTime();
  const candidates = [parseTime(args.triage.time), parseTime(args.startTime)].filter((t): t is number => t !== undefined && t <= now + MINUTE_MS);
  const event = candidates.length ? Math.min(...candidates) : now;
  const lookback = clampInt(args.settings?.cloudTrailLookbackMinutes, DEFAULT_CLOUDTRAIL_LOOKBACK_MINUTES, 1, 89 * 1440);
  const lookahead = clampInt(args.settings?.cloudTrailLookaheadMinutes, DEFAULT_CLOUDTRAIL_LOOKAHEAD_MINUTES, 0, 1440);
  const until = Math.max(now, event) + lookahead * MINUTE_MS;
  const since = Math.max(event - lookback * MINUTE_MS, until - MAX_WINDOW_MS + MINUTE_MS);
  return { since: new Date(since).toISOString(), until: new Date(until).toISOString() };
}

/** The file steps' input: the pod and the path, or the candidates of an ambiguous path; `{}` without a file. */
function fileStep(triage: TriageResult, pod: Record<string, string>): Record<string, unknown> {
  const a = triage.artifact;
  if (a?.path) return { ...pod, path: a.path };
  if (a?.candidates?.length) return { ...pod, candidates: [...a.candidates] };
  return {};
}

/**
 * The input a playbook execution starts with. Each step's action input is
 * prepared here from triage (every key present, possibly empty) so the state
 * machine only passes `$.steps.<step>` through: a JSONPath the state machine
 * reads must exist (a missing one is a States.Runtime error that no Catch
 * handles). The same input serves every route's state machine.
 *
 * EC2 forensics (deploy/statemachines/ec2-forensics.asl.json) also reads
 * `forensics` (what the finding has), `memory` (`{}` until capture-memory
 * succeeds or a person waives it), `artifacts` (what the analysis reads,
 * filled by the playbook), `config.captureMemoryTimeoutSeconds` and
 * `config.heartbeatSeconds` (HeartbeatSecondsPath of its long steps). The
 * playbook adds `steps.collectDisk.snapshotIds` (from preserve-disk) and
 * `steps.analyse.artifacts` (from the collections) itself.
 */
export function buildPlaybookInput(args: {
  incidentId: string;
  executionName: string;
  startTime: string;
  triage: TriageResult;
  event?: unknown;
  settings: PlaybookSettings;
  /** When the playbook starts (the CloudTrail window ends after it); the current time when absent. */
  now?: Date;
}) {
  const { triage } = args;
  const t = triage.target;
  const f = args.settings.forensics ?? {};
  const pod = t.namespace && t.pod ? { namespace: t.namespace, pod: t.pod, ...(t.container ? { container: t.container } : {}) } : {};
  const node = t.node ?? t.instanceId;
  const instanceId = t.instanceId && INSTANCE_ID.test(t.instanceId) ? t.instanceId : undefined;
  const ioc = triage.ioc;
  const forensicInstanceId = f.forensicInstanceId && INSTANCE_ID.test(f.forensicInstanceId) && f.forensicInstanceId !== instanceId ? f.forensicInstanceId : undefined;
  const captureSeconds = clampInt(f.memoryCaptureTimeoutSeconds, DEFAULT_MEMORY_CAPTURE_TIMEOUT_SECONDS, 60, 48 * 3600);
  const webRoots = f.webRoots?.length ? { webRoots: [...f.webRoots] } : {};
  const now = args.now ?? new Date();
  const window = forensicsWindow({ triage, startTime: args.startTime, now, settings: f });
  const seenAt = parseTime(triage.time);
  const seen = seenAt !== undefined && seenAt <= now.getTime() + MINUTE_MS ? new Date(seenAt).toISOString() : undefined;
  const findingId = triage.context.findingId && FINDING_ID.test(triage.context.findingId) ? triage.context.findingId : undefined;
  const onInstance = <T extends object>(build: (id: string) => T): T | Record<string, never> => (instanceId ? build(instanceId) : {});
  return {
    incidentId: args.incidentId,
    executionName: args.executionName,
    startTime: args.startTime,
    route: triage.route,
    triage,
    ...(args.event !== undefined ? { event: args.event } : {}),
    config: {
      approvalTimeoutSeconds: args.settings.approvalTimeoutSeconds,
      defaultDecision: args.settings.defaultDecision,
      captureMemoryTimeoutSeconds: captureSeconds + CAPTURE_MEMORY_TASK_MARGIN_SECONDS,
      heartbeatSeconds: clampInt(args.settings.heartbeatSeconds, DEFAULT_STEP_HEARTBEAT_SECONDS, 3, 3600),
      /** Every step a dry run: observe mode, or an observe-only rule. Each task message carries it. */
      dryRun: Boolean(args.settings.observe || triage.observe),
    },
    steps: {
      // One path, or every candidate reading of an ambiguous one (the playbook asks a person first).
      extractFile: fileStep(triage, pod),
      quarantineFile: fileStep(triage, pod),
      // The severity reaches the block record: a full network ACL evicts the lowest-severity block first.
      denyEgress: ioc ? { ip: ioc.ip, ...(ioc.port ? { port: ioc.port } : {}), ...(node ? { node } : {}), severity: triage.severity } : {},
      isolateNode: node ? { node } : {},
      // The pod playbook (pod-containment): the pod isolation; its node comes from the finding, or from the isolation's result.
      isolatePod: t.namespace && t.pod ? { namespace: t.namespace, pod: t.pod } : {},
      instanceId: t.instanceId ?? '',
      addMaliciousIp: ioc
        ? { ip: ioc.ip, source: triage.source, ...(findingId ? { findingId } : {}), ...(seen ? { firstSeen: seen, lastSeen: seen } : {}) }
        : {},
      collectVolatile: onInstance((id) => ({ instanceId: id, ...webRoots })),
      // The instance (GuardDuty), or the node it runs (Falco: capture-memory resolves it, as isolate-node does).
      captureMemory:
        instanceId || node
          ? {
              ...(instanceId ? { instanceId } : { node: node! }),
              ...(f.limeModuleBucket ? { limeModuleBucket: f.limeModuleBucket } : {}),
              limeModulePrefix: f.limeModulePrefix ?? DEFAULT_LIME_MODULE_PREFIX,
              timeoutSeconds: captureSeconds,
            }
          : {},
      preserveDisk: onInstance((id) => ({ instanceId: id, createAmi: f.createAmi ?? false })),
      isolateInstance: onInstance((id) => ({ node: id, ...(f.stopInstance !== undefined ? { stopInstance: f.stopInstance } : {}) })),
      /** After the bot refused a stop (memory neither captured nor waived): the network only. */
      isolateNetworkOnly: instanceId || node ? { node: instanceId ?? node!, stopInstance: false } : {},
      collectDisk: onInstance((id) => ({ instanceId: id, ...(forensicInstanceId ? { forensicInstanceId } : {}), snapshotIds: [] as string[], ...webRoots })),
      pullCloudTrail: onInstance((id) => ({ instanceId: id, since: window.since, until: window.until })),
      analyse: { window, ...(ioc ? { findingRemoteIp: ioc.ip } : {}), artifacts: [] as unknown[] },
    },
    forensics: { hasInstance: Boolean(instanceId), hasRemoteIp: Boolean(ioc), hasForensicInstance: Boolean(instanceId && forensicInstanceId) },
    memory: {} as { captured?: boolean; waivedBy?: string },
    artifacts: { volatile: [] as unknown[], disk: [] as unknown[] },
    results: {},
  };
}

export type PlaybookInput = ReturnType<typeof buildPlaybookInput>;

const resultSchema = z
  .object({ action: z.string().optional(), status: z.enum(['succeeded', 'skipped', 'failed']), summary: z.string().default(''), details: z.record(z.string(), z.unknown()).default({}) })
  .loose();

/** What a Catch writes: `{Error, Cause}` (moto leaves Cause null; AWS may leave it out). */
const caughtSchema = z.object({ Error: z.string().optional(), Cause: z.string().nullish() }).loose();

/** What the bot sends instead of an output over Step Functions' 256 KiB limit. */
const truncatedSchema = z.object({ truncated: z.literal(true), summary: z.unknown().optional() }).loose();

const decisionStateSchema = z.object({ action: z.string(), by: z.unknown(), at: z.string().optional() }).loose();

/** The state a playbook execution carries to its record and report steps. */
export const playbookStateSchema = z
  .object({
    incidentId: z.string().min(1),
    executionName: z.string().min(1),
    startTime: z.string().min(1),
    route: z.string().min(1),
    triage: z.record(z.string(), z.unknown()),
    event: z.unknown().optional(),
    results: z.record(z.string(), z.unknown()).default({}),
    decision: decisionStateSchema.optional(),
    /** The forensics playbook's answer to "waive the memory capture?" (or the timeout). */
    waiver: z.unknown().optional(),
    error: caughtSchema.optional(),
    repeats: z.number().optional(),
  })
  .loose();

export type PlaybookState = z.output<typeof playbookStateSchema>;

/** The action each playbook step runs (steps of the Falco, forensics, notify and pod playbooks). */
export const STEP_ACTIONS: Readonly<Record<string, string>> = {
  extractFile: 'extract-file',
  quarantineFile: 'quarantine-file',
  denyEgress: 'deny-egress',
  isolateNode: 'isolate-node',
  isolatePod: 'isolate-pod',
  recordIncident: 'record-incident',
  notify: 'notify',
  addMaliciousIp: 'add-malicious-ip',
  collectVolatile: 'collect-volatile',
  captureMemory: 'capture-memory',
  askWaiver: 'waive-memory-capture',
  preserveDisk: 'preserve-disk',
  isolateInstance: 'isolate-node',
  isolateNetworkOnly: 'isolate-node',
  collectDisk: 'collect-disk',
  pullCloudTrail: 'pull-cloudtrail',
  analyse: 'analyse',
};

function errorText(error: z.output<typeof caughtSchema>): string {
  const code = error.Error ?? 'Error';
  return error.Cause ? `${code}: ${error.Cause}` : code;
}

type ActionOutcome = IncidentInput['actions'][number];

/** One step's result as an action outcome; undefined when it is none of the shapes a step leaves. */
function outcomeOf(step: string, raw: unknown): ActionOutcome | undefined {
  const fallbackAction = STEP_ACTIONS[step] ?? step;
  const r = resultSchema.safeParse(raw);
  if (r.success) {
    const { action, status, summary, details } = r.data;
    // A failure the playbook recorded after catching it: say what the error was.
    const caught = caughtSchema.safeParse(r.data.error);
    const withError = caught.success && r.data.error !== undefined && caught.data.Error !== undefined;
    return {
      action: action ?? fallbackAction,
      status,
      summary: withError ? `${summary} (${errorText(caught.data)})`.slice(0, 4000) : summary,
      details: withError ? { ...details, error: { error: caught.data.Error, ...(caught.data.Cause ? { cause: caught.data.Cause.slice(0, 4000) } : {}) } } : details,
    };
  }
  const truncated = truncatedSchema.safeParse(raw);
  if (truncated.success) {
    const summary = typeof truncated.data.summary === 'string' ? truncated.data.summary : 'done';
    return { action: fallbackAction, status: 'succeeded', summary: `${summary} (the full result was over the 256 KiB limit and is not in the state)`, details: { truncated: true } };
  }
  const caught = caughtSchema.safeParse(raw);
  if (caught.success && caught.data.Error !== undefined) {
    return { action: fallbackAction, status: 'failed', summary: errorText(caught.data).slice(0, 4000), details: { error: { error: caught.data.Error } } };
  }
  return undefined;
}

function decisionBy(by: unknown): string {
  return Array.isArray(by) ? by.join(',') : String(by ?? 'unknown');
}

/** The waiver of the memory capture, as a decision (allow → waive-memory). */
function waiverDecision(raw: unknown, fallbackAt: string): IncidentInput['decisions'][number] | undefined {
  const w = decisionStateSchema.safeParse(raw);
  if (!w.success) return undefined;
  const base = { action: 'waive-memory-capture', by: decisionBy(w.data.by) || 'unknown', at: w.data.at ?? fallbackAt };
  if (w.data.action === 'allow') return { ...base, decision: 'waive-memory', note: 'memory capture waived: a later step may destroy memory' };
  if (w.data.action === 'timeout') return { ...base, decision: 'timeout', note: 'nobody answered: memory capture not waived' };
  return { ...base, decision: w.data.action, note: 'memory capture not waived' };
}

/**
 * Where the playbooks keep a responder's answer to a containment step they did not run by
 * themselves (the automatic containment cap, or the network ACL's quota), and its action.
 */
const CONTAINMENT_DECISIONS: Readonly<Record<string, string>> = {
  denyEgressDecision: 'deny-egress',
  isolateNodeDecision: 'isolate-node',
  isolateInstanceDecision: 'isolate-node',
  isolatePodDecision: 'isolate-pod',
};

function containmentDecisions(state: PlaybookState): IncidentInput['decisions'] {
  return Object.entries(CONTAINMENT_DECISIONS).flatMap(([key, action]) => {
    const d = decisionStateSchema.safeParse((state as Record<string, unknown>)[key]);
    if (!d.success) return [];
    const note = d.data.action === 'block' ? `${action} approved past the automatic limits` : `${action} not approved: nothing was done`;
    return [{ action, decision: d.data.action, by: decisionBy(d.data.by), at: d.data.at ?? state.startTime, note }];
  });
}

/** Turns a playbook's state into the incident that record-incident writes and the report shows. */
export function incidentFromPlaybookState(state: PlaybookState): IncidentInput {
  const actions = Object.entries(state.results).flatMap(([step, raw]) => {
    const outcome = outcomeOf(step, raw);
    return outcome ? [outcome] : [];
  });
  const waiver = waiverDecision(state.waiver, state.startTime);
  const decisions = [
    ...(state.decision
      ? [
          {
            decision: state.decision.action,
            by: decisionBy(state.decision.by),
            at: state.decision.at ?? state.startTime,
          },
        ]
      : []),
    ...(waiver ? [waiver] : []),
    ...containmentDecisions(state),
  ];
  return {
    incidentId: state.incidentId,
    executionName: state.executionName,
    startTime: state.startTime,
    route: state.route,
    triage: state.triage,
    ...(state.event !== undefined ? { event: state.event } : {}),
    actions,
    decisions,
    ...(state.error ? { error: { error: state.error.Error ?? 'Error', ...(state.error.Cause ? { cause: state.error.Cause.slice(0, 4000) } : {}) } } : {}),
    ...(state.repeats !== undefined ? { repeats: state.repeats } : {}),
  } as IncidentInput;
}

/** A playbook state always carries `results` (buildPlaybookInput starts it at `{}`); an incident has `actions` instead. */
function looksLikePlaybookState(value: unknown): boolean {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return v.results !== null && typeof v.results === 'object' && !Array.isArray(v.actions);
}

const stateAsIncident = playbookStateSchema.transform((s, ctx) => {
  const r = incidentInputSchema.safeParse(incidentFromPlaybookState(s));
  if (r.success) return r.data;
  for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  return z.NEVER;
});

/**
 * Accepts an incident, or a playbook state to convert into one. Chosen by shape, not by trying
 * both: a state also satisfies the (non-strict) incident schema, which would silently drop its
 * `results` and `decision`.
 */
export const incidentOrStateSchema = z.unknown().transform((value, ctx): IncidentInput => {
  const r = looksLikePlaybookState(value) ? stateAsIncident.safeParse(value) : incidentInputSchema.safeParse(value);
  if (r.success) return r.data;
  for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  return z.NEVER;
});
