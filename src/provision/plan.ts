import { renderDefinition, type DesiredQueue, type DesiredSsmDocument, type DesiredState, type PolicyDocument } from './desired.js';

/**
 * Pure planning: what exists (CurrentState, read by readCurrentState) against what should
 * (DesiredState), as an ordered list of changes. No I/O here; executePlan applies the list
 * in order (the DLQ before the queue that names it, the rule before its target…).
 */

export type ChangeAction = 'create' | 'update' | 'unchanged';

/** The four queues: intake (events) and control (playbook steps), each with its DLQ. */
export type QueueRole = 'intake-dlq' | 'intake' | 'control-dlq' | 'control';

interface ChangeBase {
  action: ChangeAction;
  /** What it is, for people: `sqs queue sentinel-intake`. */
  resource: string;
  /** Why this action: `does not exist`, `VisibilityTimeout 30 → 60`, `matches`. */
  why: string;
}

export type Change =
  | (ChangeBase & { kind: 'queue'; which: QueueRole; name: string; attributes: Readonly<Record<string, string>> })
  | (ChangeBase & { kind: 'queue-policy'; which: 'intake' | 'control'; queueName: string; policy: string })
  | (ChangeBase & { kind: 'rule'; name: string; eventBusName: string; eventPattern: string; description: string; state: 'ENABLED' })
  | (ChangeBase & { kind: 'rule-target'; rule: string; eventBusName: string; id: string; arn: string })
  | (ChangeBase & { kind: 'bucket'; name: string; region: string })
  | (ChangeBase & { kind: 'bucket-encryption' | 'bucket-public-access-block' | 'bucket-versioning'; bucket: string })
  | (ChangeBase & {
      kind: 'ssm-document';
      name: string;
      /** create / update: the content to send; undefined when only the default version moves. */
      content: string | undefined;
      /** Set this version as the default (the latest already holds the content). */
      setDefaultVersion: string | undefined;
    })
  | (ChangeBase & { kind: 'state-machine'; name: string; arn: string; roleArn: string; definitionTemplate: unknown });

export type ChangeKind = Change['kind'];

export interface CurrentQueue {
  url: string;
  /** As GetQueueAttributes(All) returns them. */
  attributes: Readonly<Record<string, string>>;
}

export interface CurrentRule {
  arn: string | undefined;
  eventPattern: string | undefined;
  state: string | undefined;
  description: string | undefined;
}

export interface CurrentTarget {
  id: string;
  arn: string;
  /** Input, InputPath or InputTransformer set: the queue would not get the whole event. */
  transformed: boolean;
}

export interface CurrentBucket {
  /** A default encryption rule exists (SSE-S3 or SSE-KMS: either is kept). */
  encrypted: boolean;
  publicAccessBlock:
    | { BlockPublicAcls?: boolean | undefined; IgnorePublicAcls?: boolean | undefined; BlockPublicPolicy?: boolean | undefined; RestrictPublicBuckets?: boolean | undefined }
    | undefined;
  /** `Enabled`, `Suspended`, or undefined when never enabled. */
  versioning: string | undefined;
}

export interface CurrentSsmDocument {
  documentType: string | undefined;
  defaultVersion: string | undefined;
  /** The default version's content (what a run that names no version runs). */
  defaultContent: string | undefined;
  /**
   * When the default differs from the file: an existing version whose content is the file's
   * (SSM refuses UpdateDocument with content an existing version already has).
   */
  matchingVersion: string | undefined;
}

/** The state machines' role as IAM reports it: its unique id, or why it could not be read. */
export type CurrentRole = { roleId: string } | { unreadable: string };

export interface CurrentStateMachine {
  arn: string;
  definition: string;
  roleArn: string;
}

export interface CurrentState {
  dlq: CurrentQueue | undefined;
  queue: CurrentQueue | undefined;
  controlDlq: CurrentQueue | undefined;
  controlQueue: CurrentQueue | undefined;
  rule: CurrentRule | undefined;
  /** The targets of sentinel's rule (empty when the rule does not exist). */
  targets: readonly CurrentTarget[];
  bucket: CurrentBucket | undefined;
  /** By document name; absent names do not exist. */
  ssmDocuments: Readonly<Record<string, CurrentSsmDocument>>;
  /** By state machine name; absent names do not exist. */
  stateMachines: Readonly<Record<string, CurrentStateMachine>>;
  /** Read for the bot's SENTINEL_SFN_ROLE_ID; never changed by provision. */
  stateMachineRole: CurrentRole;
}

/** An empty account: nothing exists. */
export const NOTHING: CurrentState = Object.freeze({
  dlq: undefined,
  queue: undefined,
  controlDlq: undefined,
  controlQueue: undefined,
  rule: undefined,
  targets: [],
  bucket: undefined,
  ssmDocuments: {},
  stateMachines: {},
  stateMachineRole: { unreadable: 'the role was not read' },
});

// ---------------------------------------------------------------------------------------------
// Comparisons that ignore formatting: AWS hands documents back re-serialized.

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON with sorted keys: equal for documents that differ only in key order or whitespace. */
export function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (isRecord(v)) {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => v[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableStringify(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * IAM policy equivalence: a scalar equals a one-element list, lists are sets, key order and
 * number/string spelling do not matter (`"Action": "sqs:SendMessage"` = `["sqs:SendMessage"]`).
 */
function canonPolicy(v: unknown): unknown[] {
  if (Array.isArray(v)) {
    const items = v.flatMap((e) => (isRecord(e) ? [canonPolicyObject(e)] : canonPolicy(e)));
    const byKey = new Map(items.map((i) => [stableStringify(i), i] as const));
    return [...byKey.keys()].sort().map((k) => byKey.get(k));
  }
  if (isRecord(v)) return [canonPolicyObject(v)];
  return [String(v)];
}
function canonPolicyObject(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      // `"Principal": "*"` and `"Principal": {"AWS": "*"}` mean the same.
      .map((k) => [k, canonPolicy(k === 'Principal' && o[k] === '*' ? { AWS: '*' } : o[k])]),
  );
}

export function samePolicy(a: unknown, b: unknown): boolean {
  return stableStringify(canonPolicy(a)) === stableStringify(canonPolicy(b));
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Same JSON document (key order and whitespace aside). */
export function sameJson(a: unknown, b: unknown): boolean {
  return stableStringify(a) === stableStringify(b);
}

// ---------------------------------------------------------------------------------------------

/** Why one queue attribute differs, or undefined when it is as desired. */
function attributeDifference(name: string, want: string, current: Readonly<Record<string, string>>): string | undefined {
  const have = current[name];
  if (name === 'SqsManagedSseEnabled') {
    // SSE-KMS chosen by the owner also counts as encrypted; never downgrade it.
    if (have === 'true' || current.KmsMasterKeyId) return undefined;
    return 'server-side encryption off';
  }
  if (name === 'RedrivePolicy') {
    const w = parseJson(want) as { deadLetterTargetArn?: string; maxReceiveCount?: unknown };
    const h = parseJson(have) as { deadLetterTargetArn?: string; maxReceiveCount?: unknown } | undefined;
    if (!h) return 'no redrive policy';
    if (h.deadLetterTargetArn !== w.deadLetterTargetArn) return `dead-letter queue ${h.deadLetterTargetArn ?? 'none'} → ${w.deadLetterTargetArn}`;
    if (Number(h.maxReceiveCount) !== Number(w.maxReceiveCount)) return `maxReceiveCount ${String(h.maxReceiveCount)} → ${String(w.maxReceiveCount)}`;
    return undefined;
  }
  if (have === undefined) return `${name} unset → ${want}`;
  if (/^\d+$/.test(want) ? Number(have) !== Number(want) : have !== want) return `${name} ${have} → ${want}`;
  return undefined;
}

function planQueue(which: QueueRole, want: DesiredQueue, have: CurrentQueue | undefined): Change {
  const resource = `sqs queue ${want.name}`;
  if (!have) return { kind: 'queue', which, name: want.name, attributes: want.attributes, action: 'create', resource, why: 'does not exist' };
  const reasons: string[] = [];
  const changed: Record<string, string> = {};
  for (const [name, value] of Object.entries(want.attributes)) {
    const diff = attributeDifference(name, value, have.attributes);
    if (diff) {
      reasons.push(diff);
      changed[name] = value;
    }
  }
  if (!reasons.length) return { kind: 'queue', which, name: want.name, attributes: {}, action: 'unchanged', resource, why: 'attributes match' };
  return { kind: 'queue', which, name: want.name, attributes: changed, action: 'update', resource, why: reasons.join('; ') };
}

function planQueuePolicy(which: 'intake' | 'control', queueName: string, want: PolicyDocument, have: CurrentQueue | undefined, senders: string): Change {
  const base = { kind: 'queue-policy' as const, which, queueName, policy: JSON.stringify(want), resource: `sqs queue policy ${queueName}` };
  const havePolicy = have?.attributes.Policy;
  if (!have) return { ...base, action: 'create', why: 'new queue' };
  if (!havePolicy) return { ...base, action: 'create', why: `the queue has no policy (senders: ${senders})` };
  if (!samePolicy(parseJson(havePolicy), want)) return { ...base, action: 'update', why: `policy differs (senders: ${senders})` };
  return { ...base, action: 'unchanged', why: senders };
}

/** Same document content: as JSON when both parse, else as text. */
export function sameContent(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const pa = parseJson(a);
  const pb = parseJson(b);
  return pa !== undefined && pb !== undefined ? sameJson(pa, pb) : a === b;
}

function planSsmDocument(want: DesiredSsmDocument, have: CurrentSsmDocument | undefined): Change {
  const base = { kind: 'ssm-document' as const, name: want.name, resource: `ssm document ${want.name}` };
  const file = `deploy/ssm/${want.basename}.json`;
  if (!have) return { ...base, action: 'create', content: want.content, setDefaultVersion: undefined, why: `does not exist (${file})` };
  if (sameContent(have.defaultContent, want.content)) return { ...base, action: 'unchanged', content: undefined, setDefaultVersion: undefined, why: `default version ${have.defaultVersion ?? '?'} matches ${file}` };
  if (have.matchingVersion) {
    return {
      ...base,
      action: 'update',
      content: undefined,
      setDefaultVersion: have.matchingVersion,
      why: `default version ${have.defaultVersion ?? '?'} → ${have.matchingVersion} (that version already matches ${file})`,
    };
  }
  return { ...base, action: 'update', content: want.content, setDefaultVersion: undefined, why: `content differs from ${file}: new version, made the default` };
}

const PUBLIC_ACCESS_FLAGS = ['BlockPublicAcls', 'IgnorePublicAcls', 'BlockPublicPolicy', 'RestrictPublicBuckets'] as const;

/**
 * The ordered changes that bring `current` to `desired`. Every desired resource gets exactly
 * one entry (`unchanged` ones too), so a plan is also a full report.
 */
export function planProvision(desired: DesiredState, current: CurrentState): Change[] {
  const changes: Change[] = [];

  // Queues: each DLQ before the queue whose redrive policy names it, each policy after its queue.
  changes.push(planQueue('intake-dlq', desired.dlq, current.dlq));
  changes.push(planQueue('intake', desired.queue, current.queue));
  changes.push(planQueuePolicy('intake', desired.queue.name, desired.queuePolicy, current.queue, 'EventBridge from the rule only'));
  changes.push(planQueue('control-dlq', desired.controlDlq, current.controlDlq));
  changes.push(planQueue('control', desired.controlQueue, current.controlQueue));
  changes.push(planQueuePolicy('control', desired.controlQueue.name, desired.controlQueuePolicy, current.controlQueue, "the state machines' role only"));

  // The EventBridge rule and its target.
  {
    const r = desired.rule;
    const pattern = JSON.stringify(r.eventPattern);
    const base = {
      kind: 'rule' as const,
      name: r.name,
      eventBusName: r.eventBusName,
      eventPattern: pattern,
      description: r.description,
      state: r.state,
      resource: `eventbridge rule ${r.eventBusName === 'default' ? '' : `${r.eventBusName}/`}${r.name}`,
    };
    const have = current.rule;
    const threshold = r.eventPattern.detail.severity[0].numeric[1];
    if (!have) changes.push({ ...base, action: 'create', why: `does not exist (GuardDuty severity >= ${threshold})` });
    else {
      const reasons: string[] = [];
      if (!sameJson(parseJson(have.eventPattern), r.eventPattern)) reasons.push(`pattern → severity >= ${threshold} (numeric)`);
      if (have.state !== r.state) reasons.push(`state ${have.state ?? 'unset'} → ${r.state}`);
      if ((have.description ?? '') !== r.description) reasons.push('description');
      changes.push(reasons.length ? { ...base, action: 'update', why: reasons.join('; ') } : { ...base, action: 'unchanged', why: `GuardDuty severity >= ${threshold}` });
    }
  }
  {
    const t = desired.target;
    const base = {
      kind: 'rule-target' as const,
      rule: desired.rule.name,
      eventBusName: desired.rule.eventBusName,
      id: t.id,
      arn: t.arn,
      resource: `eventbridge target ${desired.rule.name}/${t.id}`,
    };
    const have = current.rule ? current.targets.find((x) => x.id === t.id) : undefined;
    if (!have) changes.push({ ...base, action: 'create', why: current.rule ? 'the rule has no sentinel target' : 'new rule' });
    else if (have.arn !== t.arn) changes.push({ ...base, action: 'update', why: `target ${have.arn} → ${t.arn}` });
    else if (have.transformed) changes.push({ ...base, action: 'update', why: 'the target rewrites the event; the queue needs it whole' });
    else changes.push({ ...base, action: 'unchanged', why: `sends to ${desired.queue.name}` });
  }

  // The evidence bucket and its protections.
  {
    const b = desired.bucket;
    const have = current.bucket;
    const resource = `s3 bucket ${b.name}`;
    changes.push({ kind: 'bucket', name: b.name, region: b.region, resource, action: have ? 'unchanged' : 'create', why: have ? 'exists' : 'does not exist' });
    const enc = { kind: 'bucket-encryption' as const, bucket: b.name, resource: `${resource} default encryption` };
    if (!have) changes.push({ ...enc, action: 'create', why: 'SSE-S3 (AES256) on the new bucket' });
    else if (!have.encrypted) changes.push({ ...enc, action: 'update', why: 'no default encryption → SSE-S3 (AES256)' });
    else changes.push({ ...enc, action: 'unchanged', why: 'default encryption on' });
    const pab = { kind: 'bucket-public-access-block' as const, bucket: b.name, resource: `${resource} public access block` };
    const open = have ? PUBLIC_ACCESS_FLAGS.filter((f) => have.publicAccessBlock?.[f] !== true) : [];
    if (!have) changes.push({ ...pab, action: 'create', why: 'block all public access on the new bucket' });
    else if (open.length) changes.push({ ...pab, action: 'update', why: `${open.join(', ')} off → on` });
    else changes.push({ ...pab, action: 'unchanged', why: 'all public access blocked' });
    const ver = { kind: 'bucket-versioning' as const, bucket: b.name, resource: `${resource} versioning` };
    if (!have) changes.push({ ...ver, action: 'create', why: 'versioning on the new bucket' });
    else if (have.versioning !== 'Enabled') changes.push({ ...ver, action: 'update', why: `versioning ${have.versioning ?? 'never enabled'} → Enabled` });
    else changes.push({ ...ver, action: 'unchanged', why: 'versioning enabled' });
  }

  // sentinel's SSM documents (the only ones the bot may send).
  for (const d of desired.ssmDocuments) changes.push(planSsmDocument(d, current.ssmDocuments[d.name]));

  // State machines, last: their definitions carry the control queue's URL.
  const queueUrl = current.controlQueue?.url;
  for (const m of desired.stateMachines) {
    const base = { kind: 'state-machine' as const, name: m.name, arn: m.arn, roleArn: m.roleArn, definitionTemplate: m.definition, resource: `state machine ${m.name}` };
    const have = current.stateMachines[m.name];
    if (!have) {
      changes.push({ ...base, action: 'create', why: `does not exist (${m.basename}.asl.json)` });
      continue;
    }
    const reasons: string[] = [];
    if (queueUrl === undefined) reasons.push('the control queue is new: its URL goes into the definition');
    else if (!sameJson(parseJson(have.definition), renderDefinition(m.definition, queueUrl))) reasons.push(`definition differs from ${m.basename}.asl.json`);
    if (have.roleArn !== m.roleArn) reasons.push(`role ${have.roleArn} → ${m.roleArn}`);
    changes.push(reasons.length ? { ...base, action: 'update', why: reasons.join('; ') } : { ...base, action: 'unchanged', why: `matches ${m.basename}.asl.json` });
  }
  return changes;
}

export interface PlanSummary {
  create: number;
  update: number;
  unchanged: number;
}

export function summarizePlan(changes: readonly Change[]): PlanSummary {
  const s: PlanSummary = { create: 0, update: 0, unchanged: 0 };
  for (const c of changes) s[c.action] += 1;
  return s;
}

/** One line per change: action, resource, why. */
export function formatPlan(changes: readonly Change[]): string[] {
  const width = Math.max(0, ...changes.map((c) => c.resource.length));
  return changes.map((c) => `${c.action.padEnd(9)}  ${c.resource.padEnd(width)}  ${c.why}`);
}
