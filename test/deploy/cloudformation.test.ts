/**
 * deploy/cloudformation/sentinel.json: valid structure, every reference resolves, least-privilege
 * IAM (checked against docs/permissions/*.md), and the resources it creates are exactly what
 * `sentinel provision` wants, so provision after the stack creates only the state machines.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildDesiredState } from '../../src/provision/desired.js';
import { planProvision, type CurrentState } from '../../src/provision/plan.js';
import { loadStateMachineTemplates } from '../../src/provision/provision.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const TEMPLATE_URL = new URL('../../deploy/cloudformation/sentinel.json', import.meta.url);
const template = JSON.parse(readFileSync(TEMPLATE_URL, 'utf8')) as Obj;
const resources = template.Resources as Record<string, Obj>;
const parameters = template.Parameters as Record<string, Obj>;
const conditions = template.Conditions as Record<string, Json>;
const outputs = template.Outputs as Record<string, Obj>;

const PSEUDO = new Set(['AWS::AccountId', 'AWS::Region', 'AWS::Partition', 'AWS::NoValue', 'AWS::StackName', 'AWS::StackId', 'AWS::URLSuffix']);
const isObj = (v: Json | undefined): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `${Name}` / `${Resource.Attr}` references in a Fn::Sub string (`${!Literal}` is not one). */
function subRefs(s: string): string[] {
  return [...s.matchAll(/\$\{([^}!][^}]*)\}/g)].map((m) => m[1]!);
}

// ---------------------------------------------------------------------------------------------
// A small evaluator for the intrinsics this template uses, with made-up physical values.

interface World {
  params: Record<string, string>;
  pseudo: Record<string, string>;
  /** Ref of a resource (its physical id). */
  refs: Record<string, string>;
  /** `Resource.Attr` → value. */
  attrs: Record<string, string>;
}

const NO_VALUE = Symbol('NoValue');

function evalCondition(name: string, w: World): boolean {
  const v = evaluate(conditions[name]!, w);
  if (typeof v !== 'boolean') throw new Error(`condition ${name} is not a boolean`);
  return v;
}

function evaluate(v: Json, w: World): Json | typeof NO_VALUE {
  if (Array.isArray(v)) return v.map((x) => evaluate(x, w)).filter((x): x is Json => x !== NO_VALUE);
  if (!isObj(v)) return v;
  const keys = Object.keys(v);
  if (keys.length === 1) {
    const [k] = keys as [string];
    const a = v[k]!;
    const args = a as Json[];
    switch (k) {
      case 'Ref': {
        const name = a as string;
        if (name === 'AWS::NoValue') return NO_VALUE;
        const out = w.pseudo[name] ?? w.params[name] ?? w.refs[name];
        if (out === undefined) throw new Error(`Ref ${name}: no value`);
        return out;
      }
      case 'Fn::GetAtt': {
        const key = `${args[0] as string}.${args[1] as string}`;
        if (w.attrs[key] === undefined) throw new Error(`GetAtt ${key}: no value`);
        return w.attrs[key];
      }
      case 'Fn::Sub': {
        const [text, vars] = typeof a === 'string' ? [a, {}] : [args[0] as string, (args[1] ?? {}) as Obj];
        const local: Record<string, string> = {};
        for (const [n, x] of Object.entries(vars)) local[n] = evaluate(x, w) as string;
        return text.replace(/\$\{([^}!][^}]*)\}/g, (_m, name: string) => {
          const out = local[name] ?? w.pseudo[name] ?? w.params[name] ?? w.refs[name] ?? w.attrs[name];
          if (out === undefined) throw new Error(`Fn::Sub \${${name}}: no value`);
          return out;
        });
      }
      case 'Fn::If': {
        const [cond, yes, no] = args as [string, Json, Json];
        return evaluate(evalCondition(cond, w) ? yes : no, w);
      }
      case 'Fn::Equals':
        return evaluate(args[0]!, w) === evaluate(args[1]!, w);
      case 'Fn::Not':
        return !(evaluate(args[0]!, w) as boolean);
      case 'Fn::Select':
        return (evaluate(args[1]!, w) as Json[])[Number(evaluate(args[0]!, w))]!;
      case 'Fn::Split':
        return (evaluate(args[1]!, w) as string).split(args[0] as string);
      case 'Fn::Join':
        return (evaluate(args[1]!, w) as Json[]).join(args[0] as string);
      default:
        if (k.startsWith('Fn::')) throw new Error(`unsupported intrinsic ${k}`);
    }
  }
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) {
    const e = evaluate(x, w);
    if (e !== NO_VALUE) out[k] = e;
  }
  return out;
}

interface WorldOptions {
  region?: string;
  account?: string;
  params?: Record<string, string>;
}

/** Parameter defaults plus overrides, and physical values shaped like AWS's. */
function world(options: WorldOptions = {}): World {
  const region = options.region ?? 'eu-west-1';
  const account = options.account ?? '210987654321';
  const params: Record<string, string> = {};
  for (const [name, p] of Object.entries(parameters)) params[name] = String(p.Default ?? '');
  Object.assign(params, options.params);
  const pseudo = { 'AWS::Region': region, 'AWS::AccountId': account, 'AWS::Partition': 'aws', 'AWS::StackName': 'sentinel', 'AWS::URLSuffix': 'amazonaws.com' };
  const w: World = { params, pseudo, refs: {}, attrs: {} };
  const prefix = params.Prefix!;
  const bucket = params.EvidenceBucketName || `${prefix}-evidence-${account}-${region}`;
  const bus = params.EventBusName === 'default' ? '' : `${params.EventBusName}/`;
  Object.assign(w.refs, {
    IntakeQueue: `https://sqs.${region}.amazonaws.com/${account}/${prefix}-intake`,
    DeadLetterQueue: `https://sqs.${region}.amazonaws.com/${account}/${prefix}-intake-dlq`,
    EvidenceBucket: bucket,
    GuardDutyRule: `${params.EventBusName}|${prefix}-guardduty`,
    StateMachineRole: 'sentinel-StateMachineRole-ABC',
    BotRole: 'sentinel-BotRole-ABC',
    FalcosidekickRole: 'sentinel-FalcosidekickRole-ABC',
  });
  for (const name of ['BotIntakePolicy', 'BotContainmentPolicy', 'BotForensicsPolicy', 'FalcosidekickPolicy']) {
    w.refs[name] = `arn:aws:iam::${account}:policy/sentinel-${name}-ABC`;
  }
  Object.assign(w.attrs, {
    'IntakeQueue.Arn': `arn:aws:sqs:${region}:${account}:${prefix}-intake`,
    'DeadLetterQueue.Arn': `arn:aws:sqs:${region}:${account}:${prefix}-intake-dlq`,
    'EvidenceBucket.Arn': `arn:aws:s3:::${bucket}`,
    'GuardDutyRule.Arn': `arn:aws:events:${region}:${account}:rule/${bus}${prefix}-guardduty`,
    'StateMachineRole.Arn': `arn:aws:iam::${account}:role/sentinel-StateMachineRole-ABC`,
    'BotRole.Arn': `arn:aws:iam::${account}:role/sentinel-BotRole-ABC`,
    'FalcosidekickRole.Arn': `arn:aws:iam::${account}:role/sentinel-FalcosidekickRole-ABC`,
  });
  return w;
}

function props(name: string, w: World): Obj {
  return evaluate(resources[name]!.Properties!, w) as Obj;
}

// ---------------------------------------------------------------------------------------------
// IAM statements, evaluated.

interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string[];
  Resource: string[];
  Condition?: Record<string, Record<string, unknown>>;
}

const list = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? (v as string[]) : [v as string]);
function normalize(s: Obj): Statement {
  return {
    ...(s.Sid ? { Sid: s.Sid as string } : {}),
    Effect: s.Effect as 'Allow' | 'Deny',
    Action: list(s.Action),
    Resource: list(s.Resource),
    ...(isObj(s.Condition) ? { Condition: s.Condition as Statement['Condition'] } : {}),
  };
}

/** Identity policies in the template (roles' inline policies and managed policies), by resource. */
function identityStatements(w: World): Record<string, Statement[]> {
  const out: Record<string, Statement[]> = {};
  for (const [name, r] of Object.entries(resources)) {
    if (typeof r.Condition === 'string' && !evalCondition(r.Condition, w)) continue;
    const p = evaluate(r.Properties ?? {}, w) as Obj;
    const docs: Obj[] = [];
    if (r.Type === 'AWS::IAM::ManagedPolicy') docs.push(p.PolicyDocument as Obj);
    if (r.Type === 'AWS::IAM::Role') for (const ip of (p.Policies as Obj[] | undefined) ?? []) docs.push(ip.PolicyDocument as Obj);
    if (docs.length) out[name] = docs.flatMap((d) => (d.Statement as Obj[]).map(normalize));
  }
  return out;
}

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
  { Effect: 'Allow', Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'], Resource: ['arn:aws:sqs:REGION:ACCOUNT:sentinel-intake'] },
  { Effect: 'Allow', Action: ['states:StartExecution'], Resource: ['arn:aws:states:REGION:ACCOUNT:stateMachine:sentinel-*'] },
  { Effect: 'Allow', Action: ['states:SendTaskSuccess', 'states:SendTaskFailure'], Resource: ['*'] },
  // record-incident (src/pipeline/actions/recordIncident.ts) and its index; /evidence reads them.
  { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: ['arn:aws:s3:::EVIDENCE_BUCKET/incidents/*', 'arn:aws:s3:::EVIDENCE_BUCKET/incident-index/*'] },
  // The S3 approval store (src/bot/stores/s3ApprovalStore.ts, prefix sentinel/approvals/).
  { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], Resource: ['arn:aws:s3:::EVIDENCE_BUCKET/sentinel/approvals/*'] },
];

/** A world whose ARNs read like the docs' placeholders. */
function placeholderWorld(): World {
  const w = world({
    region: 'REGION',
    account: 'ACCOUNT',
    params: { EvidenceBucketName: 'EVIDENCE_BUCKET', LimeModulesBucket: 'LIME_BUCKET', LimeModulesPrefix: 'LIME_PREFIX', ClusterVpcId: 'VPC_ID' },
  });
  return w;
}

function globCovers(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(value);
}
const conditionKeys = (s: Statement) => Object.entries(s.Condition ?? {}).flatMap(([op, kv]) => Object.keys(kv).map((k) => `${op} ${k}`));

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
    // `aws cloudformation deploy` sends a template of up to 51,200 bytes inline (no S3 bucket needed).
    expect(readFileSync(TEMPLATE_URL).length).toBeLessThan(51_200);
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
    expect(bare.BotContainmentPolicy!.find((s) => s.Sid === 'EgressNaclEntries')!.Condition).toBeUndefined();
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

  it('lets the state machines only send to the intake queue, and only sentinel\'s state machines assume their role', () => {
    const w = world();
    const role = props('StateMachineRole', w);
    expect(identityStatements(w).StateMachineRole).toEqual([
      { Sid: 'TaskMessages', Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: ['arn:aws:sqs:eu-west-1:210987654321:sentinel-intake'] },
    ]);
    expect((role.AssumeRolePolicyDocument as { Statement: Obj[] }).Statement[0]).toMatchObject({
      Principal: { Service: 'states.amazonaws.com' },
      Condition: { StringEquals: { 'aws:SourceAccount': '210987654321' }, ArnLike: { 'aws:SourceArn': 'arn:aws:states:eu-west-1:210987654321:stateMachine:sentinel-*' } },
    });
    expect(identityStatements(w).FalcosidekickPolicy).toEqual([
      { Sid: 'FalcoEvents', Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: ['arn:aws:sqs:eu-west-1:210987654321:sentinel-intake'] },
    ]);
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
      const w = world({ params: { ClusterVpcId: 'vpc-0123456789abcdef0', LimeModulesBucket: 'a-rather-long-lime-module-bucket-name' } });
      const doc = props(name, w).PolicyDocument;
      expect(JSON.stringify(doc).length, name).toBeLessThan(6144);
    }
  });
});

describe('CloudFormation template and sentinel provision agree', () => {
  const templates = loadStateMachineTemplates();

  /** What the stack leaves in the account, as readCurrentState would see it. */
  function stackState(w: World): CurrentState {
    const q = props('IntakeQueue', w);
    const dlq = props('DeadLetterQueue', w);
    const policy = props('IntakeQueuePolicy', w);
    const rule = props('GuardDutyRule', w);
    const bucket = props('EvidenceBucket', w);
    const sqsAttributes = (p: Obj): Record<string, string> => {
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(p)) {
        if (k === 'QueueName') continue;
        out[k] = typeof v === 'object' ? JSON.stringify(v) : String(v);
      }
      return out;
    };
    expect(policy.Queues).toEqual([w.refs.IntakeQueue]);
    const sse = (bucket.BucketEncryption as { ServerSideEncryptionConfiguration: { ServerSideEncryptionByDefault: { SSEAlgorithm: string } }[] }).ServerSideEncryptionConfiguration;
    return {
      dlq: { url: w.refs.DeadLetterQueue!, attributes: { ...sqsAttributes(dlq), QueueArn: w.attrs['DeadLetterQueue.Arn']! } },
      queue: { url: w.refs.IntakeQueue!, attributes: { ...sqsAttributes(q), QueueArn: w.attrs['IntakeQueue.Arn']!, Policy: JSON.stringify(policy.PolicyDocument) } },
      rule: { arn: w.attrs['GuardDutyRule.Arn'], eventPattern: rule.EventPattern as string, state: rule.State as string, description: rule.Description as string },
      targets: (rule.Targets as Obj[]).map((t) => ({ id: t.Id as string, arn: t.Arn as string, transformed: false })),
      bucket: {
        encrypted: sse.some((r) => Boolean(r.ServerSideEncryptionByDefault.SSEAlgorithm)),
        publicAccessBlock: bucket.PublicAccessBlockConfiguration as Record<string, boolean>,
        versioning: (bucket.VersioningConfiguration as { Status: string }).Status,
      },
      stateMachines: {},
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
      });
      expect(props('IntakeQueue', w).QueueName).toBe(desired.queue.name);
      expect(props('DeadLetterQueue', w).QueueName).toBe(desired.dlq.name);
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
