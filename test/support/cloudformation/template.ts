/**
 * deploy/cloudformation/sentinel.json for tests: the parsed template, a small evaluator for the
 * intrinsics it uses (with physical values shaped like AWS's), and its IAM statements, evaluated.
 * Used by test/deploy/cloudformation.test.ts and by the action tests that check their calls
 * against the template's policy (policySimulator.ts).
 */
import { readFileSync } from 'node:fs';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Obj = { [k: string]: Json };

export const TEMPLATE_URL = new URL('../../../deploy/cloudformation/sentinel.json', import.meta.url);
export const template = JSON.parse(readFileSync(TEMPLATE_URL, 'utf8')) as Obj;
export const resources = template.Resources as Record<string, Obj>;
export const parameters = template.Parameters as Record<string, Obj>;
export const conditions = template.Conditions as Record<string, Json>;
export const outputs = template.Outputs as Record<string, Obj>;

export const PSEUDO = new Set(['AWS::AccountId', 'AWS::Region', 'AWS::Partition', 'AWS::NoValue', 'AWS::StackName', 'AWS::StackId', 'AWS::URLSuffix']);
export const isObj = (v: Json | undefined): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `${Name}` / `${Resource.Attr}` references in a Fn::Sub string (`${!Literal}` is not one). */
export function subRefs(s: string): string[] {
  return [...s.matchAll(/\$\{([^}!][^}]*)\}/g)].map((m) => m[1]!);
}

// ---------------------------------------------------------------------------------------------
// A small evaluator for the intrinsics this template uses, with made-up physical values.

export interface World {
  params: Record<string, string>;
  pseudo: Record<string, string>;
  /** Ref of a resource (its physical id). */
  refs: Record<string, string>;
  /** `Resource.Attr` → value. */
  attrs: Record<string, string>;
}

export const NO_VALUE = Symbol('NoValue');

export function evalCondition(name: string, w: World): boolean {
  const v = evaluate(conditions[name]!, w);
  if (typeof v !== 'boolean') throw new Error(`condition ${name} is not a boolean`);
  return v;
}

export function evaluate(v: Json, w: World): Json | typeof NO_VALUE {
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

export interface WorldOptions {
  region?: string;
  account?: string;
  params?: Record<string, string>;
}

/** Values for the parameters that have no default (the stack cannot be created without them). */
export const REQUIRED_PARAMETERS: Record<string, string> = { ClusterVpcId: 'vpc-0123456789abcdef0', ClusterName: 'prod' };

/** Parameter defaults plus overrides, and physical values shaped like AWS's. */
export function world(options: WorldOptions = {}): World {
  const region = options.region ?? 'eu-west-1';
  const account = options.account ?? '210987654321';
  const params: Record<string, string> = {};
  for (const [name, p] of Object.entries(parameters)) params[name] = String(p.Default ?? REQUIRED_PARAMETERS[name] ?? '');
  Object.assign(params, options.params);
  const pseudo = { 'AWS::Region': region, 'AWS::AccountId': account, 'AWS::Partition': 'aws', 'AWS::StackName': 'sentinel', 'AWS::URLSuffix': 'amazonaws.com' };
  const w: World = { params, pseudo, refs: {}, attrs: {} };
  const prefix = params.Prefix!;
  const bucket = params.EvidenceBucketName || `${prefix}-evidence-${account}-${region}`;
  const bus = params.EventBusName === 'default' ? '' : `${params.EventBusName}/`;
  Object.assign(w.refs, {
    IntakeQueue: `https://sqs.${region}.amazonaws.com/${account}/${prefix}-intake`,
    DeadLetterQueue: `https://sqs.${region}.amazonaws.com/${account}/${prefix}-intake-dlq`,
    ControlQueue: `https://sqs.${region}.amazonaws.com/${account}/${prefix}-control`,
    ControlDeadLetterQueue: `https://sqs.${region}.amazonaws.com/${account}/${prefix}-control-dlq`,
    EvidenceBucket: bucket,
    GuardDutyRule: `${params.EventBusName}|${prefix}-guardduty`,
    StateMachineRole: 'sentinel-StateMachineRole-ABC',
    BotRole: 'sentinel-BotRole-ABC',
    FalcosidekickRole: 'sentinel-FalcosidekickRole-ABC',
  });
  for (const name of ['BotIntakePolicy', 'BotContainmentPolicy', 'BotForensicsPolicy', 'FalcosidekickPolicy']) {
    w.refs[name] = `arn:aws:iam::${account}:policy/sentinel-${name}-ABC`;
  }
  // Ref of an SSM document is its name.
  for (const [name, r] of Object.entries(resources)) if (r.Type === 'AWS::SSM::Document') w.refs[name] = `${prefix}-${name}`;
  Object.assign(w.attrs, {
    'IntakeQueue.Arn': `arn:aws:sqs:${region}:${account}:${prefix}-intake`,
    'DeadLetterQueue.Arn': `arn:aws:sqs:${region}:${account}:${prefix}-intake-dlq`,
    'ControlQueue.Arn': `arn:aws:sqs:${region}:${account}:${prefix}-control`,
    'ControlDeadLetterQueue.Arn': `arn:aws:sqs:${region}:${account}:${prefix}-control-dlq`,
    'StateMachineRole.RoleId': 'AROAEXAMPLESTATEMACHINES',
    'EvidenceBucket.Arn': `arn:aws:s3:::${bucket}`,
    'GuardDutyRule.Arn': `arn:aws:events:${region}:${account}:rule/${bus}${prefix}-guardduty`,
    'StateMachineRole.Arn': `arn:aws:iam::${account}:role/sentinel-StateMachineRole-ABC`,
    'BotRole.Arn': `arn:aws:iam::${account}:role/sentinel-BotRole-ABC`,
    'FalcosidekickRole.Arn': `arn:aws:iam::${account}:role/sentinel-FalcosidekickRole-ABC`,
  });
  return w;
}

export function props(name: string, w: World): Obj {
  return evaluate(resources[name]!.Properties!, w) as Obj;
}

// ---------------------------------------------------------------------------------------------
// IAM statements, evaluated.

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string[];
  Resource: string[];
  Condition?: Record<string, Record<string, unknown>>;
}

export const list = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? (v as string[]) : [v as string]);
export function normalize(s: Obj): Statement {
  return {
    ...(s.Sid ? { Sid: s.Sid as string } : {}),
    Effect: s.Effect as 'Allow' | 'Deny',
    Action: list(s.Action),
    Resource: list(s.Resource),
    ...(isObj(s.Condition) ? { Condition: s.Condition as Statement['Condition'] } : {}),
  };
}

/** Identity policies in the template (roles' inline policies and managed policies), by resource. */
export function identityStatements(w: World): Record<string, Statement[]> {
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

export function globCovers(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(value);
}
export const conditionKeys = (s: Statement) => Object.entries(s.Condition ?? {}).flatMap(([op, kv]) => Object.keys(kv).map((k) => `${op} ${k}`));

