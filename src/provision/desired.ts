import { ConfigError } from '../errors.js';
import type { SettingName } from '../config.js';

/**
 * What `sentinel provision` wants to exist, computed from settings and the ASL files
 * without any call: names, ARNs, queue attributes, the queue policy, the EventBridge rule,
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
};

export interface StateMachineTemplate {
  /** File name without `.asl.json`, e.g. `falco-incident`. */
  basename: string;
  /** The parsed ASL document, `${ControlQueueUrl}` not yet substituted. */
  definition: unknown;
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

export interface DesiredState {
  partition: string;
  region: string;
  accountId: string;
  prefix: string;
  dlq: DesiredQueue;
  queue: DesiredQueue;
  queuePolicy: PolicyDocument;
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
 * The queue policy: EventBridge may send only from sentinel's rule (aws:SourceArn), and the
 * state machines' role may send (its own IAM policy must allow it too). Nothing else.
 */
export function queuePolicy(queueArn: string, ruleArnValue: string, sfnRoleArn: string): PolicyDocument {
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
      {
        Sid: 'StateMachineTasks',
        Effect: 'Allow',
        Principal: { AWS: sfnRoleArn },
        Action: 'sqs:SendMessage',
        Resource: queueArn,
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

  const dlqName = `${prefix}-intake-dlq`;
  const queueName = `${prefix}-intake`;
  const sqsArn = (name: string) => `arn:${partition}:sqs:${region}:${accountId}:${name}`;
  const dlq: DesiredQueue = {
    name: dlqName,
    arn: sqsArn(dlqName),
    attributes: { MessageRetentionPeriod: String(DLQ_RETENTION_SECONDS), SqsManagedSseEnabled: 'true' },
  };
  const queue: DesiredQueue = {
    name: queueName,
    arn: sqsArn(queueName),
    attributes: {
      VisibilityTimeout: String(input.visibilitySeconds),
      MessageRetentionPeriod: String(QUEUE_RETENTION_SECONDS),
      ReceiveMessageWaitTimeSeconds: String(QUEUE_RECEIVE_WAIT_SECONDS),
      SqsManagedSseEnabled: 'true',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: MAX_RECEIVE_COUNT }),
    },
  };

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
      arn: `arn:${partition}:states:${region}:${accountId}:stateMachine:${name}`,
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
    dlq,
    queue,
    queuePolicy: queuePolicy(queue.arn, rule.arn, input.sfnRoleArn),
    rule,
    target: { id: RULE_TARGET_ID, arn: queue.arn },
    stateMachines,
    bucket: { name: bucketName, region },
  };
}
