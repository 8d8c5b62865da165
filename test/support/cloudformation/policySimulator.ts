/**
 * The bot's IAM policy from the CloudFormation template, applied to the calls an action makes on
 * moto: moto does not evaluate IAM conditions, so this middleware does, for the calls whose
 * conditions depend on the state of what they touch (tags, VPC), at the moment they are made.
 *
 * For each checked call it reads the resources' tags and VPC from moto (Describe* calls, which are
 * not checked), evaluates the template's Allow and Deny statements per resource as IAM does
 * (every resource of a request must be allowed, an explicit Deny wins), records the decision,
 * and, like AWS, refuses a denied call (UnauthorizedOperation / AccessDenied) without sending it.
 *
 * Checked: ec2 CreateTags, DeleteTags, ModifyNetworkInterfaceAttribute, StopInstances,
 * StartInstances; autoscaling EnterStandby, ExitStandby. Condition operators and keys the
 * template uses are implemented; an unknown one throws (a check that cannot decide never passes).
 */
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, DescribeNetworkInterfacesCommand, DescribeSecurityGroupsCommand, type Tag } from '@aws-sdk/client-ec2';
import type { AwsClients } from '../../../src/aws/clients.js';
import { globCovers, identityStatements, world, type Statement } from './template.js';

export interface PolicyDecision {
  /** `ec2:StopInstances`. */
  action: string;
  resource: string;
  allowed: boolean;
  /** The statements that decided (Sids), or why nothing allowed it. */
  why: string;
}

export interface SimulatorOptions {
  region: string;
  account: string;
  /** The template's ClusterVpcId and ClusterName parameters. */
  vpcId: string;
  clusterName: string;
}

/** What a condition sees for one resource: `tag:<key>` for its tags, `ec2:Vpc`, and the request's `aws:TagKeys`. */
type Context = Record<string, string | string[] | undefined>;

const BOT_POLICIES = ['BotIntakePolicy', 'BotContainmentPolicy', 'BotForensicsPolicy'];

export function botStatements(options: SimulatorOptions): Statement[] {
  const w = world({ region: options.region, account: options.account, params: { ClusterVpcId: options.vpcId, ClusterName: options.clusterName } });
  const all = identityStatements(w);
  return BOT_POLICIES.flatMap((p) => all[p] ?? []);
}

function contextValue(key: string, ctx: Context): string | string[] | undefined {
  const tag = /^(?:aws:ResourceTag|ssm:resourceTag|autoscaling:ResourceTag)\/(.+)$/.exec(key);
  if (tag) return ctx[`tag:${tag[1]}`];
  if (key === 'ec2:Vpc' || key === 'aws:TagKeys') return ctx[key];
  throw new Error(`policy simulator: condition key ${key} is not implemented`);
}

const values = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : [String(v)]);

function conditionHolds(op: string, key: string, expected: unknown, ctx: Context): boolean {
  const have = contextValue(key, ctx);
  switch (op) {
    case 'StringEquals':
    case 'ArnEquals':
      return typeof have === 'string' && values(expected).includes(have);
    case 'Null':
      return values(expected)[0] === 'true' ? have === undefined : have !== undefined;
    case 'ForAllValues:StringEquals':
      return (have === undefined ? [] : values(have)).every((v) => values(expected).includes(v));
    default:
      throw new Error(`policy simulator: condition operator ${op} is not implemented`);
  }
}

function statementMatches(st: Statement, action: string, arn: string, ctx: Context): boolean {
  if (!st.Action.includes(action)) return false;
  if (!st.Resource.some((r) => globCovers(r, arn))) return false;
  return Object.entries(st.Condition ?? {}).every(([op, kv]) => Object.entries(kv).every(([key, expected]) => conditionHolds(op, key, expected, ctx)));
}

/** IAM's decision for one resource of a request: an explicit Deny wins, else some Allow must match. */
export function decide(statements: readonly Statement[], action: string, arn: string, ctx: Context): PolicyDecision {
  const deny = statements.filter((st) => st.Effect === 'Deny' && statementMatches(st, action, arn, ctx));
  if (deny.length) return { action, resource: arn, allowed: false, why: `denied by ${deny.map((d) => d.Sid ?? '?').join(', ')}` };
  const allow = statements.filter((st) => st.Effect === 'Allow' && statementMatches(st, action, arn, ctx));
  if (allow.length) return { action, resource: arn, allowed: true, why: `allowed by ${allow.map((a) => a.Sid ?? '?').join(', ')}` };
  return { action, resource: arn, allowed: false, why: 'no statement allows it' };
}

const tagContext = (tags: readonly Tag[] | undefined): Context => Object.fromEntries((tags ?? []).map((t) => [`tag:${t.Key}`, t.Value ?? '']));

interface Input {
  Resources?: string[];
  Tags?: { Key?: string }[];
  NetworkInterfaceId?: string;
  Groups?: string[];
  InstanceIds?: string[];
  AutoScalingGroupName?: string;
}

/**
 * Adds the check to the clients' EC2 and Auto Scaling middleware. Returns every decision, in
 * call order. Use fresh clients (createMotoClients) for it: the check stays on them.
 */
export function checkWithTemplatePolicy(clients: Pick<AwsClients, 'ec2' | 'autoScaling'>, options: SimulatorOptions): PolicyDecision[] {
  const statements = botStatements(options);
  const decisions: PolicyDecision[] = [];
  const { region, account } = options;
  const ec2Arn = (type: string, id: string) => `arn:aws:ec2:${region}:${account}:${type}/${id}`;
  const vpcArn = (vpcId: string | undefined) => (vpcId ? ec2Arn('vpc', vpcId) : undefined);
  const { ec2, autoScaling } = clients;

  const instance = async (id: string): Promise<[string, Context]> => {
    const i = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0];
    return [ec2Arn('instance', id), { ...tagContext(i?.Tags), 'ec2:Vpc': vpcArn(i?.VpcId) }];
  };
  const eni = async (id: string): Promise<[string, Context, string | undefined]> => {
    const n = (await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [id] }))).NetworkInterfaces?.[0];
    return [ec2Arn('network-interface', id), { ...tagContext(n?.TagSet), 'ec2:Vpc': vpcArn(n?.VpcId) }, n?.Attachment?.InstanceId];
  };
  const group = async (id: string): Promise<[string, Context]> => {
    const g = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [id] }))).SecurityGroups?.[0];
    return [ec2Arn('security-group', id), { ...tagContext(g?.Tags), 'ec2:Vpc': vpcArn(g?.VpcId) }];
  };
  const byId = async (id: string): Promise<[string, Context]> => {
    if (id.startsWith('i-')) return instance(id);
    if (id.startsWith('eni-')) {
      const [arn, ctx] = await eni(id);
      return [arn, ctx];
    }
    if (id.startsWith('sg-')) return group(id);
    throw new Error(`policy simulator: resource ${id} is not implemented`);
  };

  /** The resources of a checked EC2 call with their contexts; undefined for calls that are not checked. */
  const ec2Resources = async (command: string, input: Input): Promise<[string, Context][] | undefined> => {
    switch (command) {
      case 'CreateTags':
      case 'DeleteTags': {
        const tagKeys = (input.Tags ?? []).map((t) => t.Key ?? '');
        return Promise.all((input.Resources ?? []).map(async (id) => {
          const [arn, ctx] = await byId(id);
          return [arn, { ...ctx, 'aws:TagKeys': tagKeys }] as [string, Context];
        }));
      }
      case 'ModifyNetworkInterfaceAttribute': {
        const [arn, ctx, attachedTo] = await eni(input.NetworkInterfaceId!);
        const out: [string, Context][] = [[arn, ctx]];
        for (const g of input.Groups ?? []) out.push(await group(g));
        if (attachedTo) out.push(await instance(attachedTo));
        return out;
      }
      case 'StopInstances':
      case 'StartInstances':
        return Promise.all((input.InstanceIds ?? []).map(instance));
      default:
        return undefined;
    }
  };

  const refuse = (name: string, action: string, denied: PolicyDecision[]) =>
    Object.assign(new Error(`${action} refused by the template's policy: ${denied.map((d) => `${d.resource} (${d.why})`).join('; ')}`), {
      name,
      $metadata: { httpStatusCode: 403 },
    });

  type Next = (args: unknown) => Promise<unknown>;
  type Ctx = { commandName?: string };
  const ec2Check = (next: Next, context: Ctx) => async (args: unknown) => {
    const command = (context.commandName ?? '').replace(/Command$/, '');
    const resources = await ec2Resources(command, (args as { input: Input }).input);
    if (resources) {
      const made = resources.map(([arn, ctx]) => decide(statements, `ec2:${command}`, arn, ctx));
      decisions.push(...made);
      const denied = made.filter((d) => !d.allowed);
      if (denied.length) throw refuse('UnauthorizedOperation', `ec2:${command}`, denied);
    }
    return next(args);
  };
  const asgCheck = (next: Next, context: Ctx) => async (args: unknown) => {
    const command = (context.commandName ?? '').replace(/Command$/, '');
    if (command === 'EnterStandby' || command === 'ExitStandby') {
      const name = (args as { input: Input }).input.AutoScalingGroupName!;
      const g = (await autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }))).AutoScalingGroups?.[0];
      const arn = g?.AutoScalingGroupARN ?? `arn:aws:autoscaling:${region}:${account}:autoScalingGroup:unknown:autoScalingGroupName/${name}`;
      const ctx: Context = Object.fromEntries((g?.Tags ?? []).map((t) => [`tag:${t.Key}`, t.Value ?? '']));
      const made = decide(statements, `autoscaling:${command}`, arn, ctx);
      decisions.push(made);
      if (!made.allowed) throw refuse('AccessDenied', `autoscaling:${command}`, [made]);
    }
    return next(args);
  };
  ec2.middlewareStack.add(ec2Check as never, { step: 'initialize', name: 'templatePolicyCheck' });
  autoScaling.middlewareStack.add(asgCheck as never, { step: 'initialize', name: 'templatePolicyCheck' });
  return decisions;
}
