import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import {
  buildDesiredState,
  guardDutyEventPattern,
  renderDefinition,
  ruleArn,
  type DesiredInput,
  type DesiredState,
} from '../../src/provision/desired.js';
import { formatPlan, NOTHING, planProvision, samePolicy, summarizePlan, type Change, type CurrentState } from '../../src/provision/plan.js';
import { botSettings, formatSettings, loadStateMachineTemplates } from '../../src/provision/provision.js';

const DOC_CONTENT = JSON.stringify(
  { schemaVersion: '2.2', description: 'test', parameters: { incident: { type: 'String', allowedPattern: '^[A-Za-z0-9-]{1,64}$' } }, mainSteps: [{ action: 'aws:runShellScript', name: 'run', inputs: { runCommand: ['uname -r'] } }] },
  null,
  2,
);

const validateAsl = createRequire(import.meta.url)('asl-validator') as (definition: unknown) => { isValid: boolean; errorsText(sep?: string): string };

const ROLE = 'arn:aws:iam::210987654321:role/sentinel-state-machines';
const TEMPLATE = {
  StartAt: 'Send',
  States: {
    Send: {
      Type: 'Task',
      Resource: 'arn:aws:states:::sqs:sendMessage',
      Parameters: { QueueUrl: '${ControlQueueUrl}', MessageBody: { kind: 'report', 'note.$': '$.note' } },
      End: true,
    },
  },
};

function input(overrides: Partial<DesiredInput> = {}): DesiredInput {
  return {
    prefix: 'acme',
    region: 'eu-west-1',
    sfnRoleArn: ROLE,
    minSeverity: 8,
    visibilitySeconds: 90,
    stateMachines: [
      { basename: 'falco-incident', definition: TEMPLATE },
      { basename: 'custom-flow', definition: { ...TEMPLATE, Comment: 'another' } },
    ],
    ssmDocuments: [{ basename: 'incident-collect', content: DOC_CONTENT }],
    ...overrides,
  };
}

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/210987654321/acme-intake';
const DLQ_URL = 'https://sqs.eu-west-1.amazonaws.com/210987654321/acme-intake-dlq';
const CONTROL_URL = 'https://sqs.eu-west-1.amazonaws.com/210987654321/acme-control';
const CONTROL_DLQ_URL = 'https://sqs.eu-west-1.amazonaws.com/210987654321/acme-control-dlq';
const ROLE_ID = 'AROAEXAMPLEROLEID0001';

/**
 * An account exactly as the desired state asks, written back the way AWS hands documents
 * back: re-serialized (Python-style spacing, other key order), scalars where lists were
 * sent, numbers as strings.
 */
function provisioned(desired: DesiredState): CurrentState {
  const reserialize = (doc: unknown) => JSON.stringify(doc, null, 1).replace(/\n\s*/g, ' ');
  const awsPolicy = (policy: DesiredState['queuePolicy']) => ({
    Statement: policy.Statement.map((s) => ({ ...s, Action: [s.Action], Effect: s.Effect, Sid: s.Sid, ...(s.Principal === '*' ? { Principal: { AWS: '*' } } : {}) })),
    Id: policy.Id,
    Version: policy.Version,
  });
  const queue = (url: string, q: DesiredState['queue'], dlq: DesiredState['dlq'], policy: DesiredState['queuePolicy']) => ({
    url,
    attributes: {
      ...q.attributes,
      QueueArn: q.arn,
      RedrivePolicy: `{"maxReceiveCount": "5", "deadLetterTargetArn": "${dlq.arn}"}`,
      Policy: reserialize(awsPolicy(policy)),
    },
  });
  const deadLetters = (url: string, dlq: DesiredState['dlq']) => ({ url, attributes: { ...dlq.attributes, QueueArn: dlq.arn, VisibilityTimeout: '30', DelaySeconds: '0' } });
  return {
    dlq: deadLetters(DLQ_URL, desired.dlq),
    queue: queue(QUEUE_URL, desired.queue, desired.dlq, desired.queuePolicy),
    controlDlq: deadLetters(CONTROL_DLQ_URL, desired.controlDlq),
    controlQueue: queue(CONTROL_URL, desired.controlQueue, desired.controlDlq, desired.controlQueuePolicy),
    rule: { arn: desired.rule.arn, eventPattern: reserialize(desired.rule.eventPattern), state: 'ENABLED', description: desired.rule.description },
    targets: [
      { id: 'someone-else', arn: 'arn:aws:lambda:eu-west-1:210987654321:function:other', transformed: true },
      { id: desired.target.id, arn: desired.target.arn, transformed: false },
    ],
    bucket: { encrypted: true, publicAccessBlock: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true }, versioning: 'Enabled' },
    ssmDocuments: Object.fromEntries(
      desired.ssmDocuments.map((d) => [d.name, { documentType: 'Command', defaultVersion: '3', defaultContent: reserialize(JSON.parse(d.content)), matchingVersion: undefined }]),
    ),
    stateMachines: Object.fromEntries(
      desired.stateMachines.map((m) => [m.name, { arn: m.arn, roleArn: m.roleArn, definition: reserialize(renderDefinition(m.definition, CONTROL_URL)) }]),
    ),
    stateMachineRole: { roleId: ROLE_ID },
  };
}

function find(changes: Change[], resource: string): Change {
  const c = changes.find((x) => x.resource === resource);
  if (!c) throw new Error(`no change for ${resource}; have ${changes.map((x) => x.resource).join(', ')}`);
  return c;
}

describe('buildDesiredState', () => {
  const d = buildDesiredState(input());

  it('names everything after the prefix and derives ARNs from the role account', () => {
    expect(d.accountId).toBe('210987654321');
    expect(d.queue).toMatchObject({ name: 'acme-intake', arn: 'arn:aws:sqs:eu-west-1:210987654321:acme-intake' });
    expect(d.dlq).toMatchObject({ name: 'acme-intake-dlq', arn: 'arn:aws:sqs:eu-west-1:210987654321:acme-intake-dlq' });
    expect(d.rule).toMatchObject({ name: 'acme-guardduty', arn: 'arn:aws:events:eu-west-1:210987654321:rule/acme-guardduty', eventBusName: 'default' });
    expect(d.stateMachines.map((m) => [m.name, m.arn, m.setting])).toEqual([
      ['acme-falco-incident', 'arn:aws:states:eu-west-1:210987654321:stateMachine:acme-falco-incident', 'SENTINEL_STATE_MACHINE_FALCO'],
      ['acme-custom-flow', 'arn:aws:states:eu-west-1:210987654321:stateMachine:acme-custom-flow', undefined],
    ]);
    expect(d.bucket).toEqual({ name: 'acme-evidence-210987654321-eu-west-1', region: 'eu-west-1' });
    expect(buildDesiredState(input({ bucketName: 'my-evidence' })).bucket.name).toBe('my-evidence');
    expect(buildDesiredState(input({ sfnRoleArn: 'arn:aws-us-gov:iam::111122223333:role/x' })).queue.arn).toBe('arn:aws-us-gov:sqs:eu-west-1:111122223333:acme-intake');
  });

  it('puts a rule on a custom bus into its ARN', () => {
    expect(ruleArn('aws', 'eu-west-1', '210987654321', 'findings', 'r')).toBe('arn:aws:events:eu-west-1:210987654321:rule/findings/r');
    expect(buildDesiredState(input({ eventBusName: 'findings' })).rule.arn).toBe('arn:aws:events:eu-west-1:210987654321:rule/findings/acme-guardduty');
  });

  it('asks for a DLQ redrive after 5 receives, SSE, and a visibility timeout no shorter than the bot keeps', () => {
    const redrive = JSON.parse(d.queue.attributes.RedrivePolicy!);
    expect(redrive).toEqual({ deadLetterTargetArn: d.dlq.arn, maxReceiveCount: 5 });
    expect(Number(d.queue.attributes.VisibilityTimeout)).toBeGreaterThanOrEqual(90);
    expect(d.queue.attributes.SqsManagedSseEnabled).toBe('true');
    expect(d.dlq.attributes.SqsManagedSseEnabled).toBe('true');
    expect(Number(d.dlq.attributes.MessageRetentionPeriod)).toBeGreaterThan(Number(d.queue.attributes.MessageRetentionPeriod));
  });

  it('matches GuardDuty severity numerically, not as a list of values', () => {
    expect(d.rule.eventPattern).toEqual({
      source: ['aws.guardduty'],
      'detail-type': ['GuardDuty Finding'],
      detail: { severity: [{ numeric: ['>=', 8] }] },
    });
    expect(guardDutyEventPattern(7.5).detail.severity).toEqual([{ numeric: ['>=', 7.5] }]);
  });

  it('lets only EventBridge (from the rule) send to the intake queue', () => {
    const [events, ...rest] = d.queuePolicy.Statement;
    expect(rest).toEqual([]);
    expect(events).toMatchObject({
      Effect: 'Allow',
      Principal: { Service: 'events.amazonaws.com' },
      Action: 'sqs:SendMessage',
      Resource: d.queue.arn,
      Condition: { ArnEquals: { 'aws:SourceArn': d.rule.arn } },
    });
    expect(JSON.stringify(d.queuePolicy)).not.toContain(ROLE);
  });

  it('gives the control queue its own DLQ, the same attributes as the intake queue, and a policy only the state machines\' role passes', () => {
    expect(d.controlQueue).toMatchObject({ name: 'acme-control', arn: 'arn:aws:sqs:eu-west-1:210987654321:acme-control' });
    expect(d.controlDlq).toMatchObject({ name: 'acme-control-dlq', arn: 'arn:aws:sqs:eu-west-1:210987654321:acme-control-dlq' });
    expect(d.controlDlq.attributes).toEqual(d.dlq.attributes);
    expect(JSON.parse(d.controlQueue.attributes.RedrivePolicy!)).toEqual({ deadLetterTargetArn: d.controlDlq.arn, maxReceiveCount: 5 });
    const { RedrivePolicy: _a, ...control } = d.controlQueue.attributes;
    const { RedrivePolicy: _b, ...intake } = d.queue.attributes;
    expect(control).toEqual(intake);
    expect(d.controlQueuePolicy.Statement).toEqual([
      { Sid: 'StateMachineStepsOnly', Effect: 'Allow', Principal: { AWS: ROLE }, Action: 'sqs:SendMessage', Resource: d.controlQueue.arn },
      {
        Sid: 'DenySendersOtherThanStateMachineRole',
        Effect: 'Deny',
        Principal: '*',
        Action: 'sqs:SendMessage',
        Resource: d.controlQueue.arn,
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': ROLE } },
      },
      {
        Sid: 'DenyDeliveriesForOtherResources',
        Effect: 'Deny',
        Principal: '*',
        Action: 'sqs:SendMessage',
        Resource: d.controlQueue.arn,
        Condition: { Null: { 'aws:SourceArn': 'false' }, ArnNotLike: { 'aws:SourceArn': 'arn:aws:states:eu-west-1:210987654321:stateMachine:acme-*' } },
      },
    ]);
  });

  it('names sentinel\'s SSM documents after the prefix and keeps their content as it is', () => {
    expect(d.ssmDocuments).toEqual([
      { name: 'acme-incident-collect', basename: 'incident-collect', arn: 'arn:aws:ssm:eu-west-1:210987654321:document/acme-incident-collect', content: DOC_CONTENT },
    ]);
    expect(() => buildDesiredState(input({ prefix: 'aws' }))).toThrow(/"aws-incident-collect" is not a valid SSM document name/);
    expect(() => buildDesiredState(input({ ssmDocuments: [{ basename: 'x', content: '{}' }, { basename: 'x', content: '{}' }] }))).toThrow(/two SSM document files/);
  });

  it('refuses names AWS would refuse and placeholders it cannot fill', () => {
    expect(() => buildDesiredState(input({ prefix: 'a-very-long-prefix-for-a-bucket-name' }))).toThrow(/bucket name .* not a valid S3 bucket name/);
    expect(() => buildDesiredState(input({ sfnRoleArn: 'arn:aws:iam::123:user/x' }))).toThrow(ConfigError);
    expect(() =>
      buildDesiredState(input({ stateMachines: [{ basename: 'x', definition: { ...TEMPLATE, Comment: 'uses ${Bucket}' } }] })),
    ).toThrow(/x\.asl\.json: unknown placeholder\(s\) \$\{Bucket\}/);
    expect(() =>
      buildDesiredState(input({ stateMachines: [{ basename: 'bad name', definition: TEMPLATE }] })),
    ).toThrow(/state machine name acme-bad name/);
  });
});

describe('renderDefinition', () => {
  it('replaces ${ControlQueueUrl} in string values and leaves everything else as it is', () => {
    const out = renderDefinition({ a: '${ControlQueueUrl}', b: ['x ${ControlQueueUrl} y', 3, true, null], '${ControlQueueUrl}': 1 }, 'https://q');
    expect(out).toEqual({ a: 'https://q', b: ['x https://q y', 3, true, null], '${ControlQueueUrl}': 1 });
  });

  it('turns every file in deploy/statemachines into a valid definition with no placeholder left', () => {
    const templates = loadStateMachineTemplates();
    expect(templates.map((t) => t.basename)).toContain('falco-incident');
    for (const t of templates) {
      const rendered = renderDefinition(t.definition, QUEUE_URL);
      const text = JSON.stringify(rendered);
      expect(text, t.basename).not.toContain('${');
      expect(text, t.basename).toContain(QUEUE_URL);
      // Every message a playbook sends goes to the control queue.
      const sends = JSON.stringify(t.definition).match(/"QueueUrl":"[^"]*"/g) ?? [];
      expect(sends.length, t.basename).toBeGreaterThan(0);
      for (const q of sends) expect(q, t.basename).toBe('"QueueUrl":"${ControlQueueUrl}"');
      const result = validateAsl(rendered);
      expect(result.isValid, `${t.basename}: ${result.errorsText()}`).toBe(true);
    }
    // Every file gets a name AWS accepts.
    expect(() => buildDesiredState(input({ prefix: 'sentinel', stateMachines: templates }))).not.toThrow();
  });
});

describe('planProvision', () => {
  const desired = buildDesiredState(input());

  it('creates everything in an empty account, in dependency order', () => {
    const changes = planProvision(desired, NOTHING);
    expect(changes.every((c) => c.action === 'create')).toBe(true);
    expect(changes.map((c) => c.resource)).toEqual([
      'sqs queue acme-intake-dlq',
      'sqs queue acme-intake',
      'sqs queue policy acme-intake',
      'sqs queue acme-control-dlq',
      'sqs queue acme-control',
      'sqs queue policy acme-control',
      'eventbridge rule acme-guardduty',
      'eventbridge target acme-guardduty/sentinel-queue',
      's3 bucket acme-evidence-210987654321-eu-west-1',
      's3 bucket acme-evidence-210987654321-eu-west-1 default encryption',
      's3 bucket acme-evidence-210987654321-eu-west-1 public access block',
      's3 bucket acme-evidence-210987654321-eu-west-1 versioning',
      'ssm document acme-incident-collect',
      'state machine acme-falco-incident',
      'state machine acme-custom-flow',
    ]);
    const queue = find(changes, 'sqs queue acme-intake');
    expect(queue.kind === 'queue' && queue.attributes).toEqual(desired.queue.attributes);
    const rule = find(changes, 'eventbridge rule acme-guardduty');
    expect(rule.kind === 'rule' && JSON.parse(rule.eventPattern)).toEqual(desired.rule.eventPattern);
    expect(summarizePlan(changes)).toEqual({ create: 15, update: 0, unchanged: 0 });
    const doc = find(changes, 'ssm document acme-incident-collect');
    expect(doc.kind === 'ssm-document' && doc.content).toBe(DOC_CONTENT);
  });

  it('changes nothing when the account already matches (documents re-serialized by AWS)', () => {
    const changes = planProvision(desired, provisioned(desired));
    expect(changes.filter((c) => c.action !== 'unchanged').map((c) => `${c.resource}: ${c.why}`)).toEqual([]);
    expect(changes).toHaveLength(15);
  });

  it('updates only the queue attributes that differ', () => {
    const current = provisioned(desired);
    const queue = current.queue!;
    const changed: CurrentState = {
      ...current,
      queue: { ...queue, attributes: { ...queue.attributes, VisibilityTimeout: '30', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: desired.dlq.arn, maxReceiveCount: 10 }) } },
    };
    const change = find(planProvision(desired, changed), 'sqs queue acme-intake');
    expect(change).toMatchObject({ action: 'update', why: 'VisibilityTimeout 30 → 90; maxReceiveCount 10 → 5' });
    expect(change.kind === 'queue' && change.attributes).toEqual({ VisibilityTimeout: '90', RedrivePolicy: desired.queue.attributes.RedrivePolicy });
  });

  it('adds a missing redrive policy and SSE, but keeps SSE-KMS the owner chose', () => {
    const current = provisioned(desired);
    const { RedrivePolicy: _r, ...withoutRedrive } = current.queue!.attributes;
    const bare: CurrentState = { ...current, queue: { ...current.queue!, attributes: { ...withoutRedrive, SqsManagedSseEnabled: 'false' } } };
    expect(find(planProvision(desired, bare), 'sqs queue acme-intake')).toMatchObject({ action: 'update', why: 'server-side encryption off; no redrive policy' });
    const kms: CurrentState = { ...current, queue: { ...current.queue!, attributes: { ...current.queue!.attributes, SqsManagedSseEnabled: 'false', KmsMasterKeyId: 'alias/x' } } };
    expect(find(planProvision(desired, kms), 'sqs queue acme-intake').action).toBe('unchanged');
  });

  it('creates a missing queue policy and replaces one that lets others send', () => {
    const current = provisioned(desired);
    const { Policy: _p, ...noPolicy } = current.queue!.attributes;
    expect(find(planProvision(desired, { ...current, queue: { ...current.queue!, attributes: noPolicy } }), 'sqs queue policy acme-intake')).toMatchObject({
      action: 'create',
      why: expect.stringMatching(/no policy/),
    });
    const open = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: 'sqs:SendMessage', Resource: desired.queue.arn }],
    });
    const change = find(planProvision(desired, { ...current, queue: { ...current.queue!, attributes: { ...current.queue!.attributes, Policy: open } } }), 'sqs queue policy acme-intake');
    expect(change.action).toBe('update');
    expect(change.kind === 'queue-policy' && samePolicy(JSON.parse(change.policy), desired.queuePolicy)).toBe(true);
  });

  it('replaces an exact-value severity list with the numeric match', () => {
    const current = provisioned(desired);
    const old = { ...current, rule: { ...current.rule!, eventPattern: JSON.stringify({ source: ['aws.guardduty'], 'detail-type': ['GuardDuty Finding'], detail: { severity: [8, 9, 10] } }) } };
    expect(find(planProvision(desired, old), 'eventbridge rule acme-guardduty')).toMatchObject({ action: 'update', why: 'pattern → severity >= 8 (numeric)' });
    const disabled = { ...current, rule: { ...current.rule!, state: 'DISABLED' } };
    expect(find(planProvision(desired, disabled), 'eventbridge rule acme-guardduty')).toMatchObject({ action: 'update', why: 'state DISABLED → ENABLED' });
    const other = buildDesiredState(input({ minSeverity: 7 }));
    expect(find(planProvision(other, current), 'eventbridge rule acme-guardduty').action).toBe('update');
  });

  it('fixes sentinel\'s target and leaves other targets alone', () => {
    const current = provisioned(desired);
    const elsewhere = { ...current, targets: [{ id: 'sentinel-queue', arn: 'arn:aws:sqs:eu-west-1:210987654321:old', transformed: false }] };
    expect(find(planProvision(desired, elsewhere), 'eventbridge target acme-guardduty/sentinel-queue')).toMatchObject({ action: 'update', why: expect.stringMatching(/:old → .*acme-intake$/) });
    const transformed = { ...current, targets: [{ id: 'sentinel-queue', arn: desired.queue.arn, transformed: true }] };
    expect(find(planProvision(desired, transformed), 'eventbridge target acme-guardduty/sentinel-queue').action).toBe('update');
    const none = { ...current, targets: current.targets.filter((t) => t.id !== 'sentinel-queue') };
    const created = find(planProvision(desired, none), 'eventbridge target acme-guardduty/sentinel-queue');
    expect(created).toMatchObject({ action: 'create', id: 'sentinel-queue', arn: desired.queue.arn });
  });

  it('turns on what an existing bucket lacks', () => {
    const current = provisioned(desired);
    const lax: CurrentState = { ...current, bucket: { encrypted: false, publicAccessBlock: { BlockPublicAcls: true, IgnorePublicAcls: true }, versioning: 'Suspended' } };
    const changes = planProvision(desired, lax);
    const b = 's3 bucket acme-evidence-210987654321-eu-west-1';
    expect(find(changes, b).action).toBe('unchanged');
    expect(find(changes, `${b} default encryption`).action).toBe('update');
    expect(find(changes, `${b} public access block`)).toMatchObject({ action: 'update', why: 'BlockPublicPolicy, RestrictPublicBuckets off → on' });
    expect(find(changes, `${b} versioning`)).toMatchObject({ action: 'update', why: 'versioning Suspended → Enabled' });
  });

  it('updates a state machine only when its definition or role differs', () => {
    const current = provisioned(desired);
    const name = 'acme-falco-incident';
    const m = current.stateMachines[name]!;
    const edited = { ...current, stateMachines: { ...current.stateMachines, [name]: { ...m, definition: JSON.stringify(renderDefinition({ ...TEMPLATE, Comment: 'old' }, QUEUE_URL)) } } };
    expect(find(planProvision(desired, edited), `state machine ${name}`)).toMatchObject({ action: 'update', why: 'definition differs from falco-incident.asl.json' });
    const otherQueue = { ...current, stateMachines: { ...current.stateMachines, [name]: { ...m, definition: JSON.stringify(renderDefinition(TEMPLATE, 'https://elsewhere')) } } };
    expect(find(planProvision(desired, otherQueue), `state machine ${name}`).action).toBe('update');
    const role = { ...current, stateMachines: { ...current.stateMachines, [name]: { ...m, roleArn: 'arn:aws:iam::210987654321:role/old' } } };
    expect(find(planProvision(desired, role), `state machine ${name}`)).toMatchObject({ action: 'update', why: `role arn:aws:iam::210987654321:role/old → ${ROLE}` });
    expect(find(planProvision(desired, role), 'state machine acme-custom-flow').action).toBe('unchanged');
  });

  it('updates existing state machines when the control queue they point at is new', () => {
    const current = { ...provisioned(desired), controlQueue: undefined };
    const changes = planProvision(desired, current);
    expect(find(changes, 'sqs queue acme-control').action).toBe('create');
    expect(find(changes, 'sqs queue policy acme-control').action).toBe('create');
    expect(find(changes, 'state machine acme-falco-incident')).toMatchObject({ action: 'update', why: expect.stringMatching(/control queue is new/) });
  });

  it('moves state machines that still send to the intake queue onto the control queue', () => {
    const current = provisioned(desired);
    const name = 'acme-falco-incident';
    const old = { ...current, stateMachines: { ...current.stateMachines, [name]: { ...current.stateMachines[name]!, definition: JSON.stringify(renderDefinition(TEMPLATE, QUEUE_URL)) } } };
    expect(find(planProvision(desired, old), `state machine ${name}`)).toMatchObject({ action: 'update', why: 'definition differs from falco-incident.asl.json' });
  });

  it('takes the state machines\' role out of an intake queue policy that still lets it send', () => {
    const current = provisioned(desired);
    const older = {
      ...desired.queuePolicy,
      Statement: [...desired.queuePolicy.Statement, { Sid: 'StateMachineTasks', Effect: 'Allow', Principal: { AWS: ROLE }, Action: 'sqs:SendMessage', Resource: desired.queue.arn }],
    };
    const change = find(planProvision(desired, { ...current, queue: { ...current.queue!, attributes: { ...current.queue!.attributes, Policy: JSON.stringify(older) } } }), 'sqs queue policy acme-intake');
    expect(change).toMatchObject({ action: 'update', why: 'policy differs (senders: EventBridge from the rule only)' });
    expect(change.kind === 'queue-policy' && change.which).toBe('intake');
  });

  it('restores a control queue policy that lost its Deny', () => {
    const current = provisioned(desired);
    const allowOnly = { ...desired.controlQueuePolicy, Statement: desired.controlQueuePolicy.Statement.filter((s) => s.Effect === 'Allow') };
    const change = find(
      planProvision(desired, { ...current, controlQueue: { ...current.controlQueue!, attributes: { ...current.controlQueue!.attributes, Policy: JSON.stringify(allowOnly) } } }),
      'sqs queue policy acme-control',
    );
    expect(change).toMatchObject({ action: 'update', which: 'control' });
    expect(change.kind === 'queue-policy' && samePolicy(JSON.parse(change.policy), desired.controlQueuePolicy)).toBe(true);
  });

  it('makes a new default version of an SSM document whose content changed, and only moves the default when a version already matches', () => {
    const current = provisioned(desired);
    const name = 'acme-incident-collect';
    const edited = { ...current.ssmDocuments[name]!, defaultContent: '{"schemaVersion":"2.2","mainSteps":[]}' };
    expect(find(planProvision(desired, { ...current, ssmDocuments: { [name]: edited } }), `ssm document ${name}`)).toMatchObject({
      action: 'update',
      content: DOC_CONTENT,
      setDefaultVersion: undefined,
      why: 'content differs from deploy/ssm/incident-collect.json: new version, made the default',
    });
    // An earlier run made version 4 but stopped before making it the default (or the file went back to an older version's content).
    const halfway = { ...edited, matchingVersion: '4' };
    expect(find(planProvision(desired, { ...current, ssmDocuments: { [name]: halfway } }), `ssm document ${name}`)).toMatchObject({
      action: 'update',
      content: undefined,
      setDefaultVersion: '4',
    });
    // Content SSM hands back re-serialized is the same content.
    expect(find(planProvision(desired, current), `ssm document ${name}`).action).toBe('unchanged');
  });

  it('formats one line per change with its action, resource and reason', () => {
    const changes = planProvision(desired, { ...provisioned(desired), bucket: undefined });
    const lines = formatPlan(changes);
    expect(lines).toHaveLength(changes.length);
    expect(lines[0]).toMatch(/^unchanged\s+sqs queue acme-intake-dlq\s+attributes match$/);
    expect(lines[8]).toMatch(/^create\s+s3 bucket acme-evidence-210987654321-eu-west-1\s+does not exist$/);
  });

  it('lists the bot settings: both queue URLs once known, the role id or how to get it', () => {
    expect(formatSettings(botSettings(desired, { queueUrl: QUEUE_URL, controlQueueUrl: CONTROL_URL, stateMachineRole: { roleId: ROLE_ID } }))).toEqual([
      'AWS_REGION=eu-west-1',
      `SENTINEL_QUEUE_URL=${QUEUE_URL}`,
      `SENTINEL_CONTROL_QUEUE_URL=${CONTROL_URL}`,
      `SENTINEL_SFN_ROLE_ID=${ROLE_ID}`,
      'SENTINEL_EVIDENCE_BUCKET=acme-evidence-210987654321-eu-west-1',
      'SENTINEL_STATE_MACHINE_FALCO=arn:aws:states:eu-west-1:210987654321:stateMachine:acme-falco-incident',
      '# acme-custom-flow: arn:aws:states:eu-west-1:210987654321:stateMachine:acme-custom-flow',
    ]);
    const unknown = formatSettings(botSettings(desired, { queueUrl: undefined, controlQueueUrl: undefined, stateMachineRole: { unreadable: 'iam:GetRole on sentinel-state-machines failed: AccessDenied' } }));
    expect(unknown[1]).toBe('# SENTINEL_QUEUE_URL=  (known once the queue is created)');
    expect(unknown[2]).toBe('# SENTINEL_CONTROL_QUEUE_URL=  (known once the queue is created)');
    expect(unknown[3]).toBe(
      '# SENTINEL_SFN_ROLE_ID=  (iam:GetRole on sentinel-state-machines failed: AccessDenied; get it with: aws iam get-role --role-name sentinel-state-machines --query Role.RoleId --output text)',
    );
  });
});

describe('samePolicy', () => {
  it('ignores formatting, key order and scalar-or-list spelling, but not content', () => {
    const a = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: 'x', Principal: { Service: 'events.amazonaws.com' } }] };
    const b = { Statement: { Principal: { Service: ['events.amazonaws.com'] }, Resource: ['x'], Action: 'sqs:SendMessage', Effect: 'Allow' }, Version: '2012-10-17' };
    expect(samePolicy(a, b)).toBe(true);
    expect(samePolicy(a, { ...b, Statement: { ...b.Statement, Resource: '*' } })).toBe(false);
    expect(samePolicy(a, { ...a, Statement: [...a.Statement, { Effect: 'Allow', Action: 'sqs:*', Resource: 'x', Principal: '*' }] })).toBe(false);
    // `"Principal": "*"` is how SQS may hand back `{"AWS": "*"}`, and the reverse.
    expect(samePolicy({ Statement: [{ Effect: 'Deny', Principal: '*' }] }, { Statement: [{ Effect: 'Deny', Principal: { AWS: ['*'] } }] })).toBe(true);
  });
});
