import { ssmDocumentName } from '../aws/ssmDocuments.js';
import { ConfigError } from '../errors.js';
import type { SettingName } from '../config.js';

/**
 * What `sentinel provision` wants to exist, computed from settings, the ASL files and the SSM
 * document files without any call: names, ARNs, the two queues (intake: events; control:
 * playbook steps) with their DLQs and policies, the EventBridge rule, sentinel's SSM documents,
 * the state machines (definitions still holding `${ControlQueueUrl}`) and the evidence bucket.
 *
 * Every ARN is derived from the partition, region and account; the account comes from the
 * state machines' role ARN (a state machine's role is always in its own account).
 */

/** The one placeholder the ASL files may use, always inside a string value: the control queue's URL. */
export const QUEUE_URL_PLACEHOLDER = '${ControlQueueUrl}';

/** Receives before a message moves to the DLQ. */
export const MAX_RECEIVE_COUNT = 5;
/** Main queue: 4 days (the SQS default); DLQ: 14 days (the SQS maximum), to give people time to look. */
export const QUEUE_RETENTION_SECONDS = 345_600;
export const DLQ_RETENTION_SECONDS = 1_209_600;
/** Long polling on the queue itself, so any consumer gets it. */
export const QUEUE_RECEIVE_WAIT_SECONDS = 20;
/** The EventBridge target id sentinel owns on its rule; other targets are left alone. */
export const RULE_TARGET_ID = 'sentinel-queue';
/** State machine file → the bot setting that takes its ARN. */
export const STATE_MACHINE_SETTINGS: Readonly<Record<string, SettingName>> = {
  'falco-incident': 'SENTINEL_STATE_MACHINE_FALCO',
  'ec2-forensics': 'SENTINEL_STATE_MACHINE_FORENSICS',
  notify: 'SENTINEL_STATE_MACHINE_NOTIFY',
  'pod-containment': 'SENTINEL_STATE_MACHINE_POD',
};

export interface StateMachineTemplate {
  /** File name without `.asl.json`, e.g. `falco-incident`. */
  basename: string;
  /** The parsed ASL document, `${ControlQueueUrl}` not yet substituted. */
  definition: unknown;
}

export interface SsmDocumentTemplate {
  /** File name without `.json`, e.g. `incident-collect-volatile`: the document is `<prefix>-<basename>`. */
  basename: string;
  /** The file's text: an SSM Command document (schemaVersion 2.2), sent as it is. */
  content: string;
}

export interface DesiredInput {
  prefix: string;
  region: string;
  /** The role the state machines run as; its account is the account everything lives in. */
  sfnRoleArn: string;
  /** Lowest severity delivered (numeric match, so fractions count). */
  minSeverity: number;
  /** The bot's SENTINEL_SQS_VISIBILITY_SECONDS: the queue's default is never shorter. */
  visibilitySeconds: number;
  /** SENTINEL_EVIDENCE_BUCKET, or undefined for `<prefix>-evidence-<account>-<region>`. */
  bucketName?: string | undefined;
  /** `default` unless findings are forwarded to a custom bus. */
  eventBusName?: string | undefined;
  stateMachines: readonly StateMachineTemplate[];
  /** deploy/ssm/*.json; none when omitted. */
  ssmDocuments?: readonly SsmDocumentTemplate[] | undefined;
}

export interface DesiredQueue {
  name: string;
  arn: string;
  /** Every attribute sentinel manages (the policy is separate: see `queuePolicy`). */
  attributes: Readonly<Record<string, string>>;
}

export interface DesiredStateMachine {
  name: string;
  basename: string;
  arn: string;
  roleArn: string;
  definition: unknown;
  /** The bot setting that takes this ARN, when there is one. */
  setting: SettingName | undefined;
}

export interface DesiredSsmDocument {
  /** `<prefix>-<basename>`. */
  name: string;
  basename: string;
  arn: string;
  content: string;
}

export interface DesiredState {
  partition: string;
  region: string;
  accountId: string;
  prefix: string;
  /** The state machines' role: the only principal that may send to the control queue. */
  sfnRoleArn: string;
  /** The intake queue's DLQ and the intake queue (events: Falcosidekick, EventBridge). */
  dlq: DesiredQueue;
  queue: DesiredQueue;
  queuePolicy: PolicyDocument;
  /** The control queue's DLQ and the control queue (playbook steps, from the state machines only). */
  controlDlq: DesiredQueue;
  controlQueue: DesiredQueue;
  controlQueuePolicy: PolicyDocument;
  ssmDocuments: readonly DesiredSsmDocument[];
  rule: { name: string; arn: string; eventBusName: string; eventPattern: EventPattern; description: string; state: 'ENABLED' };
  target: { id: string; arn: string };
  stateMachines: readonly DesiredStateMachine[];
  bucket: { name: string; region: string };
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Id?: string;
  Statement: readonly Record<string, unknown>[];
}

export interface EventPattern {
  source: string[];
  'detail-type': string[];
  detail: { severity: [{ numeric: ['>=', number] }] };
}

const ROLE_ARN = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/.+$/;
const NAME = /^[A-Za-z0-9_-]+$/;

/** The partition and account of a role ARN. */
export function parseRoleArn(roleArn: string): { partition: string; accountId: string } {
  const m = ROLE_ARN.exec(roleArn);
  if (!m) throw new ConfigError(`SENTINEL_SFN_ROLE_ARN: expected an IAM role ARN, got ${JSON.stringify(roleArn)}`);
  return { partition: m[1]!, accountId: m[2]! };
}

/**
 * The GuardDuty pattern: numeric matching, so 8.5 passes a threshold of 8 (a list of exact
 * values such as [8, 9, 10] misses every fractional severity).
 */
export function guardDutyEventPattern(minSeverity: number): EventPattern {
  return {
    source: ['aws.guardduty'],
    'detail-type': ['GuardDuty Finding'],
    detail: { severity: [{ numeric: ['>=', minSeverity] }] },
  };
}

/** EventBridge rule ARNs carry the bus name unless the rule is on the default bus. */
export function ruleArn(partition: string, region: string, accountId: string, eventBusName: string, name: string): string {
  const bus = eventBusName === 'default' ? '' : `${eventBusName}/`;
  return `arn:${partition}:events:${region}:${accountId}:rule/${bus}${name}`;
}

/**
 * The intake queue's policy: EventBridge may send only from sentinel's rule (aws:SourceArn).
 * Falcosidekick sends with its own role's IAM grant (same account); the state machines do not
 * send here at all (their steps go to the control queue).
 */
export function intakeQueuePolicy(queueArn: string, ruleArnValue: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Id: 'sentinel-intake',
    Statement: [
      {
        Sid: 'GuardDutyFindingsFromSentinelRule',
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queueArn,
        Condition: { ArnEquals: { 'aws:SourceArn': ruleArnValue } },
      },
    ],
  };
}

/**
 * The control queue's policy: only the state machines' role may send.
 * - StateMachineStepsOnly allows the role (its own IAM policy must allow it too).
 * - DenySendersOtherThanStateMachineRole refuses every other principal, whatever its own IAM
 *   policy says: `aws:PrincipalArn` is the role ARN for any session of that role, so ArnNotEquals
 *   matches every other user, role and session. A service principal (EventBridge, SNS…) has no
 *   `aws:PrincipalArn`, and a negated operator on a missing key is true: it is refused too.
 * - DenyDeliveriesForOtherResources: a request a service makes on behalf of a resource carries
 *   `aws:SourceArn`; when it is there and is not one of sentinel's state machines
 *   (`<prefix>-*`), the request is refused (confused deputy). Requests without it are not
 *   affected by this statement.
 */
export function controlQueuePolicy(queueArn: string, sfnRoleArn: string, stateMachineArnPattern: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Id: 'sentinel-control',
    Statement: [
      {
        Sid: 'StateMachineStepsOnly',
        Effect: 'Allow',
        Principal: { AWS: sfnRoleArn },
        Action: 'sqs:SendMessage',
        Resource: queueArn,
      },
      {
        Sid: 'DenySendersOtherThanStateMachineRole',
        Effect: 'Deny',
        Principal: '*',
        Action: 'sqs:SendMessage',
        Resource: queueArn,
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': sfnRoleArn } },
      },
      {
        Sid: 'DenyDeliveriesForOtherResources',
        Effect: 'Deny',
        Principal: '*',
        Action: 'sqs:SendMessage',
        Resource: queueArn,
        Condition: { Null: { 'aws:SourceArn': 'false' }, ArnNotLike: { 'aws:SourceArn': stateMachineArnPattern } },
      },
    ],
  };
}

/** Replaces `${ControlQueueUrl}` in every string of an ASL document; refuses any other `${…}` placeholder. */
export function renderDefinition(template: unknown, queueUrl: string): unknown {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return v.split(QUEUE_URL_PLACEHOLDER).join(queueUrl);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(template);
}

/** The `${…}` placeholders other than `${ControlQueueUrl}` in an ASL document (keys and values). */
export function unknownPlaceholders(template: unknown): string[] {
  const found = new Set<string>();
  const scan = (s: string) => {
    for (const m of s.matchAll(/\$\{([^}]*)\}/g)) if (m[0] !== QUEUE_URL_PLACEHOLDER) found.add(m[0]);
  };
  const walk = (v: unknown): void => {
    if (typeof v === 'string') scan(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        scan(k);
        walk(x);
      }
    }
  };
  walk(template);
  return [...found];
}

/** Computes the desired state. Throws ConfigError for names AWS would refuse. */
export function buildDesiredState(input: DesiredInput): DesiredState {
  const { partition, accountId } = parseRoleArn(input.sfnRoleArn);
  const { prefix, region } = input;
  const eventBusName = input.eventBusName ?? 'default';
  const problems: string[] = [];

  const sqsArn = (name: string) => `arn:${partition}:sqs:${region}:${accountId}:${name}`;
  const deadLetterQueue = (name: string): DesiredQueue => ({
    name,
    arn: sqsArn(name),
    attributes: { MessageRetentionPeriod: String(DLQ_RETENTION_SECONDS), SqsManagedSseEnabled: 'true' },
  });
  const mainQueue = (name: string, dlqArn: string): DesiredQueue => ({
    name,
    arn: sqsArn(name),
    attributes: {
      VisibilityTimeout: String(input.visibilitySeconds),
      MessageRetentionPeriod: String(QUEUE_RETENTION_SECONDS),
      ReceiveMessageWaitTimeSeconds: String(QUEUE_RECEIVE_WAIT_SECONDS),
      SqsManagedSseEnabled: 'true',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: MAX_RECEIVE_COUNT }),
    },
  });
  const dlq = deadLetterQueue(`${prefix}-intake-dlq`);
  const queue = mainQueue(`${prefix}-intake`, dlq.arn);
  const queueName = queue.name;
  const controlDlq = deadLetterQueue(`${prefix}-control-dlq`);
  const controlQueue = mainQueue(`${prefix}-control`, controlDlq.arn);
  const stateMachineArn = (name: string) => `arn:${partition}:states:${region}:${accountId}:stateMachine:${name}`;

  const ruleName = `${prefix}-guardduty`;
  if (ruleName.length > 64) problems.push(`rule name ${ruleName} is longer than 64 characters`);
  const rule = {
    name: ruleName,
    arn: ruleArn(partition, region, accountId, eventBusName, ruleName),
    eventBusName,
    eventPattern: guardDutyEventPattern(input.minSeverity),
    description: `sentinel: GuardDuty findings with severity >= ${input.minSeverity} to ${queueName}`,
    state: 'ENABLED' as const,
  };

  const stateMachines = input.stateMachines.map((t): DesiredStateMachine => {
    const name = `${prefix}-${t.basename}`;
    if (!NAME.test(name) || name.length > 80) problems.push(`state machine name ${name}: expected 1-80 letters, digits, - or _`);
    const extra = unknownPlaceholders(t.definition);
    if (extra.length) problems.push(`${t.basename}.asl.json: unknown placeholder(s) ${extra.join(', ')} (only ${QUEUE_URL_PLACEHOLDER} is substituted)`);
    return {
      name,
      basename: t.basename,
      arn: stateMachineArn(name),
      roleArn: input.sfnRoleArn,
      definition: t.definition,
      setting: STATE_MACHINE_SETTINGS[t.basename],
    };
  });
  const names = new Set<string>();
  for (const m of stateMachines) {
    if (names.has(m.name)) problems.push(`two state machine files are both named ${m.name}`);
    names.add(m.name);
  }

  const ssmDocuments = (input.ssmDocuments ?? []).map((d): DesiredSsmDocument => {
    let name = `${prefix}-${d.basename}`;
    try {
      name = ssmDocumentName(prefix, d.basename);
    } catch (err) {
      problems.push((err as Error).message);
    }
    return { name, basename: d.basename, arn: `arn:${partition}:ssm:${region}:${accountId}:document/${name}`, content: d.content };
  });
  const documentNames = new Set<string>();
  for (const d of ssmDocuments) {
    if (documentNames.has(d.name)) problems.push(`two SSM document files are both named ${d.name}`);
    documentNames.add(d.name);
  }

  const bucketName = input.bucketName ?? `${prefix}-evidence-${accountId}-${region}`;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucketName)) {
    problems.push(`bucket name ${bucketName} is not a valid S3 bucket name (3-63 characters); set SENTINEL_EVIDENCE_BUCKET or a shorter prefix`);
  }
  if (problems.length) throw new ConfigError(`Cannot provision:\n  ${problems.join('\n  ')}`, { details: { problems } });

  return {
    partition,
    region,
    accountId,
    prefix,
    sfnRoleArn: input.sfnRoleArn,
    dlq,
    queue,
    queuePolicy: intakeQueuePolicy(queue.arn, rule.arn),
    controlDlq,
    controlQueue,
    controlQueuePolicy: controlQueuePolicy(controlQueue.arn, input.sfnRoleArn, stateMachineArn(`${prefix}-*`)),
    ssmDocuments,
    rule,
    target: { id: RULE_TARGET_ID, arn: queue.arn },
    stateMachines,
    bucket: { name: bucketName, region },
  };
}
