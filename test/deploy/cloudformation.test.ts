/**
 * deploy/cloudformation/sentinel.json: valid structure, every reference resolves, cfn-lint finds
 * nothing, least-privilege IAM whose statements carry their conditions (checked against
 * docs/permissions/*.md), and the resources it creates are exactly what `sentinel provision`
 * wants, so provision after the stack creates only the state machines.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSsmDocuments } from '../../src/aws/ssmDocuments.js';
import { buildDesiredState } from '../../src/provision/desired.js';
import { planProvision, type CurrentState } from '../../src/provision/plan.js';
import { loadSsmDocumentTemplates, loadStateMachineTemplates } from '../../src/provision/provision.js';
import { ssmDocumentLogicalId } from '../../src/provision/templateSsmDocuments.js';
import { formatFindings, lintTemplate, type CfnLintResult } from '../support/cfnLint/runCfnLint.js';
import {
  conditionKeys,
  globCovers,
  identityStatements,
  isObj,
  list,
  normalize,
  props,
  PSEUDO,
  subRefs,
  template,
  TEMPLATE_URL,
  world,
  conditions,
  outputs,
  parameters,
  resources,
  type Json,
  type Obj,
  type Statement,
  type World,
} from '../support/cloudformation/template.js';

const BOT_POLICIES = ['BotIntakePolicy', 'BotContainmentPolicy', 'BotForensicsPolicy'];
const READ_ONLY = /^[a-z0-9-]+:(Describe|Get|List|Lookup)[A-Za-z]*$/;

/** The JSON policy blocks of docs/permissions/*.md, placeholders kept (REGION, ACCOUNT, EVIDENCE_BUCKET…). */
function documentedStatements(): { file: string; statement: Statement }[] {
  const dir = new URL('../../docs/permissions/', import.meta.url);
  const out: { file: string; statement: Statement }[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.md'))) {
    const text = readFileSync(new URL(file, dir), 'utf8');
    for (const m of text.matchAll(/```json\n([\s\S]*?)```/g)) {
      const doc = JSON.parse(m[1]!) as { Statement: Obj[] };
      for (const s of doc.Statement) out.push({ file, statement: normalize(s) });
    }
  }
  return out;
}
/** Statements in the docs that belong to other identities (the instances' roles), not sentinel's. */
const OTHER_IDENTITIES = new Set(['ReadLimeModules', 'StreamMemoryAndCommandOutput', 'UploadDiskBundleOnce']);

/** What the docs do not list because no action owns it: the bot's intake, playbooks and records. */
const BOT_CORE: Statement[] = [
  // Both queues: intake (events) and control (playbook steps).
  {
    Effect: 'Allow',
    Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
    Resource: ['arn:aws:sqs:REGION:ACCOUNT:PREFIX-intake', 'arn:aws:sqs:REGION:ACCOUNT:PREFIX-control'],
  },
  { Effect: 'Allow', Action: ['states:StartExecution'], Resource: ['arn:aws:states:REGION:ACCOUNT:stateMachine:PREFIX-*'] },
  { Effect: 'Allow', Action: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'], Resource: ['*'] },
  // record-incident (src/pipeline/actions/evidence/recordIncident.ts) and its index; /evidence reads them.
  { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: ['arn:aws:s3:::EVIDENCE_BUCKET/incidents/*', 'arn:aws:s3:::EVIDENCE_BUCKET/incident-index/*'] },
  // The S3 approval store (src/stores/s3ApprovalStore.ts, prefix sentinel/approvals/).
  { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], Resource: ['arn:aws:s3:::EVIDENCE_BUCKET/sentinel/approvals/*'] },
  // Why a message failed, with SENTINEL_APPROVAL_STORE=s3 (src/stores/s3DeadLetterStore.ts, prefix sentinel/dead-letters/).
  { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], Resource: ['arn:aws:s3:::EVIDENCE_BUCKET/sentinel/dead-letters/*'] },
  // The cap's window of automatic containment steps (src/stores/containmentWindow.ts).
  { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: ['arn:aws:s3:::EVIDENCE_BUCKET/containment/automatic-window.json'] },
];

/** A world whose ARNs read like the docs' placeholders (PREFIX is SENTINEL_PROVISION_PREFIX). */
function placeholderWorld(): World {
  const w = world({
    region: 'REGION',
    account: 'ACCOUNT',
    params: {
      Prefix: 'PREFIX',
      EvidenceBucketName: 'EVIDENCE_BUCKET',
      LimeModulesBucket: 'LIME_BUCKET',
      LimeModulesPrefix: 'LIME_PREFIX',
      ClusterVpcId: 'VPC_ID',
      ClusterName: 'CLUSTER_NAME',
    },
  });
  return w;
}

// ---------------------------------------------------------------------------------------------

describe('CloudFormation template: structure', () => {
  it('is a template with typed resources and documented outputs', () => {
    expect(template.AWSTemplateFormatVersion).toBe('2010-09-09');
    expect(Object.keys(resources).length).toBeGreaterThan(5);
    for (const [name, r] of Object.entries(resources)) {
      expect(name, 'logical id').toMatch(/^[A-Za-z0-9]+$/);
      expect(r.Type, name).toMatch(/^AWS::[A-Za-z0-9]+::[A-Za-z0-9]+$/);
      expect(isObj(r.Properties), `${name} has Properties`).toBe(true);
      if (r.Condition !== undefined) expect(Object.keys(conditions), name).toContain(r.Condition);
      for (const d of list(r.DependsOn)) expect(Object.keys(resources), `${name} DependsOn`).toContain(d);
    }
    for (const [name, o] of Object.entries(outputs)) {
      expect(o.Value, name).toBeDefined();
      if (o.Condition !== undefined) expect(Object.keys(conditions), name).toContain(o.Condition);
    }
    for (const [name, p] of Object.entries(parameters)) expect(['String', 'Number'], name).toContain(p.Type);
    // Inline, CloudFormation takes 51,200 bytes; from S3 (`aws cloudformation deploy --s3-bucket`), 1 MB.
    const size = readFileSync(TEMPLATE_URL).length;
    expect(size).toBeLessThan(1_000_000);
    if (size >= 51_200) expect(readFileSync(new URL('../../docs/deploy.md', import.meta.url), 'utf8'), 'docs/deploy.md must say to deploy with --s3-bucket').toContain('--s3-bucket');
  });

  it('uses every parameter', () => {
    const text = JSON.stringify({ Resources: resources, Outputs: outputs, Conditions: conditions });
    for (const name of Object.keys(parameters)) {
      expect(text.includes(`{"Ref":"${name}"}`) || text.includes(`\${${name}}`), name).toBe(true);
    }
  });

  it('resolves every Ref, GetAtt, Sub variable and condition, and guards conditional resources', () => {
    const problems: string[] = [];
    const known = (n: string) => PSEUDO.has(n) || n in parameters || n in resources;
    const walk = (v: Json, where: string, localVars: Set<string>, guard: string | undefined) => {
      if (Array.isArray(v)) return v.forEach((x) => walk(x, where, localVars, guard));
      if (!isObj(v)) return;
      const ref = (target: string, how: string) => {
        const resource = resources[target];
        if (!known(target) && !localVars.has(target)) problems.push(`${where}: ${how} ${target} does not exist`);
        if (resource?.Condition !== undefined && resource.Condition !== guard) problems.push(`${where}: ${how} ${target} exists only when ${resource.Condition as string}`);
      };
      for (const [k, a] of Object.entries(v)) {
        if (k === 'Ref') ref(a as string, 'Ref');
        else if (k === 'Fn::GetAtt') ref((a as string[])[0]!, 'GetAtt');
        else if (k === 'Fn::Sub') {
          const [text, vars] = typeof a === 'string' ? [a, {} as Obj] : [(a as Json[])[0] as string, ((a as Json[])[1] ?? {}) as Obj];
          const local = new Set(Object.keys(vars));
          for (const r of subRefs(text)) if (!local.has(r)) ref(r.split('.')[0]!, 'Fn::Sub');
          walk(vars, where, localVars, guard);
          continue;
        } else if (k === 'Fn::If' && !(((a as Json[])[0] as string) in conditions)) problems.push(`${where}: condition ${String((a as Json[])[0])} does not exist`);
        walk(a, where, localVars, guard);
      }
    };
    for (const [name, r] of Object.entries(resources)) walk(r.Properties!, `Resources.${name}`, new Set(), r.Condition as string | undefined);
    for (const [name, o] of Object.entries(outputs)) walk(o.Value!, `Outputs.${name}`, new Set(), o.Condition as string | undefined);
    for (const [name, c] of Object.entries(conditions)) walk(c, `Conditions.${name}`, new Set(), undefined);
    expect(problems).toEqual([]);
  });

  it('evaluates with and without the optional parameters', () => {
    const w = world({
      params: { EksOidcProviderArn: 'arn:aws:iam::210987654321:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF', ClusterVpcId: 'vpc-0123', LimeModulesBucket: 'lime' },
    });
    const bot = props('BotRole', w);
    const trust = JSON.parse(bot.AssumeRolePolicyDocument as string) as { Statement: Obj[] };
    expect(trust.Statement[0]).toEqual({
      Effect: 'Allow',
      Principal: { Federated: 'arn:aws:iam::210987654321:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF' },
      Action: 'sts:AssumeRoleWithWebIdentity',
      Condition: {
        StringEquals: {
          'oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF:aud': 'sts.amazonaws.com',
          'oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF:sub': 'system:serviceaccount:sentinel:sentinel',
        },
      },
    });
    const sidekick = JSON.parse(props('FalcosidekickRole', w).AssumeRolePolicyDocument as string) as { Statement: { Condition: { StringEquals: Record<string, string> } }[] };
    expect(Object.values(sidekick.Statement[0]!.Condition.StringEquals)).toContain('system:serviceaccount:falco:falco-falcosidekick');
    const forensics = identityStatements(w).BotForensicsPolicy!;
    expect(forensics.find((s) => s.Sid === 'LimeModules')?.Resource).toEqual(['arn:aws:s3:::lime/lime/*']);
    const nacl = identityStatements(w).BotContainmentPolicy!.find((s) => s.Sid === 'EgressNaclEntries')!;
    expect(nacl.Condition).toEqual({ ArnEquals: { 'ec2:Vpc': 'arn:aws:ec2:eu-west-1:210987654321:vpc/vpc-0123' } });

    const bare = identityStatements(world()); // every optional parameter empty
    expect(bare.BotForensicsPolicy!.map((s) => s.Sid)).not.toContain('LimeModules');
    // The VPC scope is not optional: the ACL statement keeps its condition.
    expect(bare.BotContainmentPolicy!.find((s) => s.Sid === 'EgressNaclEntries')!.Condition).toEqual({
      ArnEquals: { 'ec2:Vpc': 'arn:aws:ec2:eu-west-1:210987654321:vpc/vpc-0123456789abcdef0' },
    });
  });

  it('requires the cluster VPC and name: no empty default, a pattern that refuses an empty value', () => {
    for (const name of ['ClusterVpcId', 'ClusterName']) {
      const p = parameters[name]!;
      expect(p.Default, name).toBeUndefined();
      expect(new RegExp(p.AllowedPattern as string).test(''), name).toBe(false);
    }
    expect(new RegExp(parameters.ClusterVpcId!.AllowedPattern as string).test('vpc-0123456789abcdef0')).toBe(true);
  });

  it('keeps dead letters when the stack is deleted or a DLQ replaced', () => {
    for (const name of ['DeadLetterQueue', 'ControlDeadLetterQueue', 'EvidenceBucket']) {
      expect(resources[name], name).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
  });
});

describe('CloudFormation template: least-privilege IAM', () => {
  const wildcard = (template.Metadata as Obj).WildcardResources as Record<string, string>;

  it('grants "*" resources only to read actions and the documented write exceptions', () => {
    const used = new Set<string>();
    const problems: string[] = [];
    for (const w of [world(), placeholderWorld()]) {
      for (const [policy, statements] of Object.entries(identityStatements(w))) {
        for (const s of statements) {
          for (const a of s.Action) if (a === '*' || a.endsWith(':*')) problems.push(`${policy} ${s.Sid}: action ${a}`);
          if (s.Effect !== 'Allow' || !s.Resource.includes('*')) continue;
          for (const a of s.Action) {
            used.add(a);
            if (!READ_ONLY.test(a) && !(a in wildcard)) problems.push(`${policy} ${s.Sid}: write action ${a} on "*" is not documented in Metadata.WildcardResources`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
    expect(Object.keys(wildcard).filter((a) => !used.has(a))).toEqual([]);
  });

  it('lets the state machines only send to the control queue, and only sentinel\'s state machines assume their role', () => {
    const w = world();
    const role = props('StateMachineRole', w);
    expect(identityStatements(w).StateMachineRole).toEqual([
      { Sid: 'PlaybookSteps', Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: ['arn:aws:sqs:eu-west-1:210987654321:sentinel-control'] },
    ]);
    expect((role.AssumeRolePolicyDocument as { Statement: Obj[] }).Statement[0]).toMatchObject({
      Principal: { Service: 'states.amazonaws.com' },
      Condition: { StringEquals: { 'aws:SourceAccount': '210987654321' }, ArnLike: { 'aws:SourceArn': 'arn:aws:states:eu-west-1:210987654321:stateMachine:sentinel-*' } },
    });
    // Falcosidekick sends events to the intake queue and nothing else.
    expect(identityStatements(w).FalcosidekickPolicy).toEqual([
      { Sid: 'FalcoEvents', Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: ['arn:aws:sqs:eu-west-1:210987654321:sentinel-intake'] },
    ]);
    // Nobody but the state machines' role is granted SendMessage on the control queue.
    for (const [policy, statements] of Object.entries(identityStatements(w))) {
      if (policy === 'StateMachineRole') continue;
      for (const st of statements) {
        if (st.Action.some((a) => a === 'sqs:SendMessage')) expect(st.Resource, `${policy} ${st.Sid ?? ''}`).not.toContain('arn:aws:sqs:eu-west-1:210987654321:sentinel-control');
      }
    }
  });

  it('lets only the state machines\' role send to the control queue: an explicit Deny for every other principal', () => {
    const w = world();
    const policy = props('ControlQueuePolicy', w);
    expect(policy.Queues).toEqual([w.refs.ControlQueue]);
    const role = w.attrs['StateMachineRole.Arn']!;
    const queue = w.attrs['ControlQueue.Arn']!;
    const statements = (policy.PolicyDocument as { Statement: Obj[] }).Statement;
    expect(statements).toEqual([
      { Sid: 'StateMachineStepsOnly', Effect: 'Allow', Principal: { AWS: role }, Action: 'sqs:SendMessage', Resource: queue },
      { Sid: 'DenySendersOtherThanStateMachineRole', Effect: 'Deny', Principal: '*', Action: 'sqs:SendMessage', Resource: queue, Condition: { ArnNotEquals: { 'aws:PrincipalArn': role } } },
      {
        Sid: 'DenyDeliveriesForOtherResources',
        Effect: 'Deny',
        Principal: '*',
        Action: 'sqs:SendMessage',
        Resource: queue,
        Condition: { Null: { 'aws:SourceArn': 'false' }, ArnNotLike: { 'aws:SourceArn': 'arn:aws:states:eu-west-1:210987654321:stateMachine:sentinel-*' } },
      },
    ]);
    // The intake queue: EventBridge from sentinel's rule, and no longer the state machines.
    const intake = (props('IntakeQueuePolicy', w).PolicyDocument as { Statement: Obj[] }).Statement;
    expect(intake).toEqual([
      {
        Sid: 'GuardDutyFindingsFromSentinelRule',
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: w.attrs['IntakeQueue.Arn'],
        Condition: { ArnEquals: { 'aws:SourceArn': w.attrs['GuardDutyRule.Arn'] } },
      },
    ]);
  });

  it('lets the bot consume both queues and heartbeat its steps', () => {
    const intake = identityStatements(world()).BotIntakePolicy!;
    expect(intake.find((s) => s.Action.includes('sqs:ReceiveMessage'))).toEqual({
      Sid: 'ConsumeQueues',
      Effect: 'Allow',
      Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
      Resource: ['arn:aws:sqs:eu-west-1:210987654321:sentinel-intake', 'arn:aws:sqs:eu-west-1:210987654321:sentinel-control'],
    });
    expect(intake.find((s) => s.Sid === 'AnswerPlaybookTasks')?.Action).toEqual(['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat']);
    expect(intake.flatMap((s) => s.Action)).not.toContain('sqs:GetQueueAttributes');
  });

  it('grants the bot every permission docs/permissions documents for it', () => {
    const bot = BOT_POLICIES.flatMap((p) => identityStatements(placeholderWorld())[p]!);
    const missing: string[] = [];
    for (const { file, statement: d } of documentedStatements()) {
      if (d.Sid && OTHER_IDENTITIES.has(d.Sid)) continue;
      for (const action of d.Action) {
        for (const resource of d.Resource) {
          const granted = bot.some(
            (s) =>
              s.Effect === d.Effect &&
              s.Action.includes(action) &&
              s.Resource.some((r) => (d.Effect === 'Allow' ? globCovers(r, resource) : globCovers(resource, r))) &&
              // No stricter than the docs for an Allow; exactly as strict for a Deny.
              (d.Effect === 'Allow' ? conditionKeys(s).every((k) => conditionKeys(d).includes(k)) : conditionKeys(s).join() === conditionKeys(d).join()),
          );
          if (!granted) missing.push(`${file} ${d.Sid ?? ''}: ${d.Effect} ${action} on ${resource}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('grants the bot nothing beyond the docs and its own intake, playbooks and records, with the docs\' conditions', () => {
    const documented = [...documentedStatements().filter((d) => !(d.statement.Sid && OTHER_IDENTITIES.has(d.statement.Sid))).map((d) => d.statement), ...BOT_CORE];
    const extra: string[] = [];
    for (const policy of BOT_POLICIES) {
      for (const s of identityStatements(placeholderWorld())[policy]!) {
        if (s.Effect !== 'Allow') continue;
        for (const action of s.Action) {
          for (const resource of s.Resource) {
            const allowed = documented.some(
              (d) =>
                d.Effect === 'Allow' &&
                d.Action.includes(action) &&
                d.Resource.some((r) => globCovers(r, resource)) &&
                // At least as strict as a documented grant of the same thing.
                conditionKeys(d).every((k) => conditionKeys(s).includes(k)),
            );
            if (!allowed) extra.push(`${policy} ${s.Sid ?? ''}: ${action} on ${resource}`);
          }
        }
      }
    }
    expect(extra).toEqual([]);
  });

  it('keeps each managed policy under the 6,144-character IAM limit', () => {
    for (const name of [...BOT_POLICIES, 'FalcosidekickPolicy']) {
      const w = world({ params: { ClusterVpcId: 'vpc-0123456789abcdef0', ClusterName: 'a-rather-long-cluster-name-for-the-limit', LimeModulesBucket: 'a-rather-long-lime-module-bucket-name' } });
      const doc = props(name, w).PolicyDocument;
      expect(JSON.stringify(doc).length, name).toBeLessThan(6144);
    }
  });
});

describe('CloudFormation template: the bot\'s statements carry their conditions', () => {
  const w = world();
  const bot = BOT_POLICIES.flatMap((p) => identityStatements(w)[p]!.map((st) => ({ ...st, policy: p })));
  const ARN = {
    instance: 'arn:aws:ec2:eu-west-1:210987654321:instance/*',
    eni: 'arn:aws:ec2:eu-west-1:210987654321:network-interface/*',
    sg: 'arn:aws:ec2:eu-west-1:210987654321:security-group/*',
    acl: 'arn:aws:ec2:eu-west-1:210987654321:network-acl/*',
    asg: 'arn:aws:autoscaling:eu-west-1:210987654321:autoScalingGroup:*:autoScalingGroupName/*',
  };
  const VPC = { ArnEquals: { 'ec2:Vpc': 'arn:aws:ec2:eu-west-1:210987654321:vpc/vpc-0123456789abcdef0' } };
  const granting = (action: string, effect: 'Allow' | 'Deny' = 'Allow') => bot.filter((st) => st.Effect === effect && st.Action.includes(action));
  const strip = ({ policy: _p, Sid: _s, ...st }: Statement & { policy: string }) => st;

  it('puts every resource-tag condition in a statement whose resources are of one type (IAM checks each resource on its own)', () => {
    const problems: string[] = [];
    const resourceType = (arn: string) => arn.split(':').slice(5).join(':').split('/')[0]!.split(':')[0]!;
    for (const st of bot) {
      const tagKeys = conditionKeys(st).filter((k) => /\s(aws|ssm|autoscaling):[Rr]esource[Tt]ag\//.test(k));
      if (!tagKeys.length) continue;
      const types = new Set(st.Resource.map(resourceType));
      if (types.size !== 1) problems.push(`${st.policy} ${st.Sid}: ${tagKeys.join(', ')} on ${[...types].join(' + ')}`);
    }
    expect(problems).toEqual([]);
  });

  it('sends only sentinel\'s SSM documents, only to instances sentinel tagged for an incident or forensic workstations, never to protected ones', () => {
    const send = granting('ssm:SendCommand');
    expect(send.map(strip)).toEqual([
      {
        Effect: 'Allow',
        Action: ['ssm:SendCommand'],
        Resource: ['arn:aws:ssm:eu-west-1:210987654321:document/sentinel-incident-*', 'arn:aws:ssm:eu-west-1:210987654321:document/sentinel-workstation-*'],
      },
      { Effect: 'Allow', Action: ['ssm:SendCommand'], Resource: [ARN.instance], Condition: { Null: { 'ssm:resourceTag/sentinel:incident': 'false' } } },
      { Effect: 'Allow', Action: ['ssm:SendCommand'], Resource: [ARN.instance], Condition: { StringEquals: { 'ssm:resourceTag/sentinel:forensic': 'true' } } },
    ]);
    expect(granting('ssm:SendCommand', 'Deny').map(strip)).toEqual([
      { Effect: 'Deny', Action: ['ssm:SendCommand'], Resource: [ARN.instance], Condition: { Null: { 'ssm:resourceTag/sentinel:protected': 'false' } } },
    ]);
    expect(JSON.stringify(template)).not.toContain('AWS-RunShellScript');
  });

  it('changes network interfaces only when sentinel tagged them, in the cluster VPC, onto the isolation group or back onto the VPC\'s groups', () => {
    const modify = granting('ec2:ModifyNetworkInterfaceAttribute');
    expect(modify.every((st) => st.Condition !== undefined)).toBe(true);
    expect(modify.map(strip)).toEqual([
      { Effect: 'Allow', Action: ['ec2:ModifyNetworkInterfaceAttribute'], Resource: [ARN.eni], Condition: { StringEquals: { 'aws:ResourceTag/sentinel:isolated': 'true' }, ...VPC } },
      { Effect: 'Allow', Action: ['ec2:ModifyNetworkInterfaceAttribute'], Resource: [ARN.instance], Condition: { StringEquals: { 'aws:ResourceTag/sentinel:isolated': 'true' } } },
      { Effect: 'Allow', Action: ['ec2:ModifyNetworkInterfaceAttribute'], Resource: [ARN.sg], Condition: { StringEquals: { 'aws:ResourceTag/sentinel:isolation': 'true' }, ...VPC } },
      { Effect: 'Allow', Action: ['ec2:ModifyNetworkInterfaceAttribute'], Resource: [ARN.sg], Condition: VPC },
    ]);
    // The interfaces' tags: only sentinel's keys, only in the cluster VPC.
    expect(granting('ec2:CreateTags').filter((st) => st.Resource.includes(ARN.eni)).map(strip)).toEqual([
      {
        Effect: 'Allow',
        Action: ['ec2:CreateTags', 'ec2:DeleteTags'],
        Resource: [ARN.eni],
        Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['sentinel:isolated', 'sentinel:incident'] }, ...VPC },
      },
    ]);
  });

  it('changes network ACL entries only in the cluster VPC', () => {
    for (const action of ['ec2:CreateNetworkAclEntry', 'ec2:DeleteNetworkAclEntry']) {
      expect(granting(action).map(strip), action).toEqual([
        { Effect: 'Allow', Action: ['ec2:CreateNetworkAclEntry', 'ec2:DeleteNetworkAclEntry'], Resource: [ARN.acl], Condition: VPC },
      ]);
    }
  });

  it('stops only instances sentinel tagged as isolated, moves to standby only the cluster\'s groups, and never touches protected ones', () => {
    expect(granting('ec2:StopInstances').map(strip)).toEqual([
      { Effect: 'Allow', Action: ['ec2:StopInstances'], Resource: [ARN.instance], Condition: { StringEquals: { 'aws:ResourceTag/sentinel:isolated': 'true' } } },
    ]);
    for (const action of ['autoscaling:EnterStandby', 'autoscaling:ExitStandby']) {
      expect(granting(action).map(strip), action).toEqual([
        { Effect: 'Allow', Action: ['autoscaling:EnterStandby', 'autoscaling:ExitStandby'], Resource: [ARN.asg], Condition: { StringEquals: { 'aws:ResourceTag/eks:cluster-name': 'prod' } } },
      ]);
      expect(granting(action, 'Deny').map(strip), action).toEqual([
        { Effect: 'Deny', Action: ['autoscaling:EnterStandby', 'autoscaling:ExitStandby'], Resource: [ARN.asg], Condition: { Null: { 'aws:ResourceTag/sentinel:protected': 'false' } } },
      ]);
    }
    const protectedInstances = granting('ec2:StopInstances', 'Deny');
    expect(protectedInstances.map(strip)).toEqual([
      {
        Effect: 'Deny',
        Action: ['ec2:StopInstances', 'ec2:StartInstances', 'ec2:CreateTags', 'ec2:DeleteTags', 'ec2:ModifyNetworkInterfaceAttribute'],
        Resource: [ARN.instance],
        Condition: { Null: { 'aws:ResourceTag/sentinel:protected': 'false' } },
      },
    ]);
  });
});

describe('CloudFormation template: sentinel\'s SSM documents', () => {
  const docs = loadSsmDocuments();
  const resync = 'run `npm run sync:template-ssm` to rewrite the template\'s SSM documents from deploy/ssm';

  it('has one Command document per deploy/ssm file, named ${Prefix}-<file>, with the file\'s content', () => {
    const inTemplate = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::SSM::Document');
    expect(inTemplate.map(([id]) => id).sort(), resync).toEqual(docs.map((d) => ssmDocumentLogicalId(d.name)).sort());
    for (const doc of docs) {
      const file = JSON.parse(readFileSync(new URL(`../../deploy/ssm/${doc.name}.json`, import.meta.url), 'utf8')) as Json;
      const r = resources[ssmDocumentLogicalId(doc.name)]!;
      const p = r.Properties as Obj;
      expect(p.Name, doc.name).toEqual({ 'Fn::Sub': `\${Prefix}-${doc.name}` });
      expect(p.DocumentType, doc.name).toBe('Command');
      expect(p.UpdateMethod, `${doc.name}: an edit must make a new version (a named document cannot be replaced)`).toBe('NewVersion');
      expect(p.Content, `${doc.name}.json and the template differ: ${resync}`).toEqual(file);
    }
  });
});

describe('CloudFormation template: cfn-lint', () => {
  let result: CfnLintResult;
  // The first run builds cfn-lint's venv (pip install from PyPI, cached in .cache/cfn-lint-venv).
  beforeAll(async () => {
    result = await lintTemplate(fileURLToPath(TEMPLATE_URL));
  }, 20 * 60_000);

  it('finds nothing, errors, warnings or informational', () => {
    expect(result.version).toBe('1.58.0');
    expect(formatFindings(result.findings), `cfn-lint ${result.version}`).toEqual([]);
  });

  it('reports what it finds (a queue with a misspelt property, a DLQ without a deletion policy)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfn-lint-'));
    try {
      const file = join(dir, 'broken.json');
      const broken = structuredClone(template);
      const dlq = (broken.Resources as Record<string, Obj>).DeadLetterQueue!;
      delete dlq.DeletionPolicy;
      (dlq.Properties as Obj).MessageRetentionPeriodSeconds = 60;
      writeFileSync(file, JSON.stringify(broken, null, 2));
      const found = (await lintTemplate(file)).findings.map((f) => `${f.Rule.Id} ${(f.Location.Path ?? []).slice(0, 2).join('/')}`);
      expect(found).toContain('E3002 Resources/DeadLetterQueue');
      expect(found).toContain('I3011 Resources/DeadLetterQueue');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('CloudFormation template and sentinel provision agree', () => {
  const templates = loadStateMachineTemplates();

  /** What the stack leaves in the account, as readCurrentState would see it. */
  function stackState(w: World): CurrentState {
    const bucket = props('EvidenceBucket', w);
    const sqsAttributes = (p: Obj): Record<string, string> => {
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(p)) {
        if (k === 'QueueName') continue;
        out[k] = typeof v === 'object' ? JSON.stringify(v) : String(v);
      }
      return out;
    };
    const queue = (name: string, policyName: string | undefined) => {
      const out = { url: w.refs[name]!, attributes: { ...sqsAttributes(props(name, w)), QueueArn: w.attrs[`${name}.Arn`]! } };
      if (!policyName) return out;
      const policy = props(policyName, w);
      expect(policy.Queues).toEqual([w.refs[name]]);
      return { ...out, attributes: { ...out.attributes, Policy: JSON.stringify(policy.PolicyDocument) } };
    };
    const rule = props('GuardDutyRule', w);
    const sse = (bucket.BucketEncryption as { ServerSideEncryptionConfiguration: { ServerSideEncryptionByDefault: { SSEAlgorithm: string } }[] }).ServerSideEncryptionConfiguration;
    const ssmDocuments: Record<string, CurrentState['ssmDocuments'][string]> = {};
    for (const [id, r] of Object.entries(resources)) {
      if (r.Type !== 'AWS::SSM::Document') continue;
      const p = props(id, w);
      ssmDocuments[p.Name as string] = { documentType: p.DocumentType as string, defaultVersion: '1', defaultContent: JSON.stringify(p.Content), matchingVersion: undefined };
    }
    return {
      dlq: queue('DeadLetterQueue', undefined),
      queue: queue('IntakeQueue', 'IntakeQueuePolicy'),
      controlDlq: queue('ControlDeadLetterQueue', undefined),
      controlQueue: queue('ControlQueue', 'ControlQueuePolicy'),
      rule: { arn: w.attrs['GuardDutyRule.Arn'], eventPattern: rule.EventPattern as string, state: rule.State as string, description: rule.Description as string },
      targets: (rule.Targets as Obj[]).map((t) => ({ id: t.Id as string, arn: t.Arn as string, transformed: false })),
      bucket: {
        encrypted: sse.some((r) => Boolean(r.ServerSideEncryptionByDefault.SSEAlgorithm)),
        publicAccessBlock: bucket.PublicAccessBlockConfiguration as Record<string, boolean>,
        versioning: (bucket.VersioningConfiguration as { Status: string }).Status,
      },
      ssmDocuments,
      stateMachines: {},
      stateMachineRole: { roleId: w.attrs['StateMachineRole.RoleId']! },
    };
  }

  for (const [label, params] of [
    ['defaults', {}],
    ['other parameters', { Prefix: 'acme', GuardDutyMinSeverity: '7.5', QueueVisibilityTimeout: '120', EvidenceBucketName: 'acme-evidence', EventBusName: 'findings' }],
  ] as const) {
    it(`leaves provision only the state machines to create (${label})`, () => {
      const w = world({ params });
      const state = stackState(w);
      expect((rule(w).Name as string)).toBe(`${w.params.Prefix}-guardduty`);
      const desired = buildDesiredState({
        prefix: w.params.Prefix!,
        region: w.pseudo['AWS::Region']!,
        sfnRoleArn: w.attrs['StateMachineRole.Arn']!,
        minSeverity: Number(w.params.GuardDutyMinSeverity),
        visibilitySeconds: Number(w.params.QueueVisibilityTimeout),
        bucketName: w.params.EvidenceBucketName || undefined,
        eventBusName: w.params.EventBusName,
        stateMachines: templates,
        ssmDocuments: loadSsmDocumentTemplates(),
      });
      expect(props('IntakeQueue', w).QueueName).toBe(desired.queue.name);
      expect(props('DeadLetterQueue', w).QueueName).toBe(desired.dlq.name);
      expect(props('ControlQueue', w).QueueName).toBe(desired.controlQueue.name);
      expect(props('ControlDeadLetterQueue', w).QueueName).toBe(desired.controlDlq.name);
      expect(desired.ssmDocuments.map((d) => d.name).sort()).toEqual(Object.keys(state.ssmDocuments).sort());
      expect(props('EvidenceBucket', w).BucketName).toBe(desired.bucket.name);
      const changes = planProvision(desired, state);
      expect(changes.filter((c) => c.kind !== 'state-machine' && c.action !== 'unchanged').map((c) => `${c.action} ${c.resource}: ${c.why}`)).toEqual([]);
      expect(changes.filter((c) => c.kind === 'state-machine').map((c) => c.action)).toEqual(templates.map(() => 'create'));
      // StartExecution covers every state machine provision creates.
      const start = identityStatements(w).BotIntakePolicy!.find((s) => s.Action.includes('states:StartExecution'))!;
      for (const m of desired.stateMachines) expect(start.Resource.some((r) => globCovers(r, m.arn)), m.arn).toBe(true);
    });
  }

  function rule(w: World): Obj {
    return props('GuardDutyRule', w);
  }

  it('matches GuardDuty severity numerically in the rule', () => {
    const pattern = JSON.parse(rule(world({ params: { GuardDutyMinSeverity: '8' } })).EventPattern as string);
    expect(pattern.detail.severity).toEqual([{ numeric: ['>=', 8] }]);
  });
});
