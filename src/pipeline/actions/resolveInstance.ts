import { paginateDescribeInstances, type EC2Client, type Filter, type Instance } from '@aws-sdk/client-ec2';
import { AwsError, AwsNotConfiguredError, ConflictError, KubernetesError, NotFoundError, ValidationError } from '../../errors.js';
import type { ActionDeps } from './types.js';

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
/** `aws:///<zone>/<instance>` as EKS and the AWS cloud provider write spec.providerID (zone may be empty). */
const PROVIDER_ID = /^aws:\/\/\/(?:[a-z0-9-]*\/)?(i-[0-9a-f]{8,17})$/;
/** A Kubernetes node name or a DNS name (RFC 1123 subdomain, any case). */
const NODE_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i;
/** States an instance can be isolated or released in; terminated ones are never matched by name. */
const LIVE_STATES: Filter = { Name: 'instance-state-name', Values: ['pending', 'running', 'shutting-down', 'stopping', 'stopped'] };

function instanceIdOf(ref: string): string | undefined {
  if (INSTANCE_ID.test(ref)) return ref;
  return PROVIDER_ID.exec(ref)?.[1];
}

function errorName(err: unknown): string {
  const e = err as { name?: unknown; Code?: unknown };
  return typeof e?.name === 'string' ? e.name : typeof e?.Code === 'string' ? e.Code : '';
}

async function describe(ec2: EC2Client, input: { InstanceIds?: string[]; Filters?: Filter[] }, what: string): Promise<Instance[]> {
  const found: Instance[] = [];
  try {
    for await (const page of paginateDescribeInstances({ client: ec2 }, { ...input })) {
      for (const r of page.Reservations ?? []) found.push(...(r.Instances ?? []));
    }
  } catch (err) {
    // An id that does not exist (or is not well formed for EC2) is "not found", not a failure.
    if (/^InvalidInstanceID\.(NotFound|Malformed)$/.test(errorName(err))) return [];
    throw new AwsError(`DescribeInstances (${what}) failed: ${(err as Error).message}`, { cause: err });
  }
  return found;
}

async function byId(ec2: EC2Client, instanceId: string): Promise<Instance | undefined> {
  const found = await describe(ec2, { InstanceIds: [instanceId] }, `instance id ${instanceId}`);
  return found.find((i) => i.InstanceId === instanceId);
}

function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown };
  const code = e?.code ?? e?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Finds the EC2 instance behind a node reference: an instance id (`i-…`), a provider id
 * (`aws:///<zone>/i-…`), a private DNS name, or a Kubernetes node name.
 *
 * Ids are described directly. Names are matched against `private-dns-name` (EKS names nodes
 * after it), ignoring terminated instances; when that finds nothing (or more than one) and
 * Kubernetes is configured, the node's `spec.providerID` gives the id. Throws NotFoundError
 * naming everything tried, ConflictError when a name matches several instances, ValidationError
 * for a reference that is none of these forms.
 */
export async function resolveInstance(ref: string, deps: Pick<ActionDeps, 'aws' | 'kube'>): Promise<Instance> {
  const ec2 = deps.aws.ec2;
  if (!ec2) throw new AwsNotConfiguredError('EC2', 'cannot resolve a node to an instance');
  const node = ref.trim();
  const id = instanceIdOf(node);
  if (!id && !NODE_NAME.test(node)) {
    throw new ValidationError(`"${ref}" is not a node name, private DNS name, instance id (i-…) or provider id (aws:///zone/i-…)`);
  }

  if (id) {
    const instance = await byId(ec2, id);
    if (instance) return instance;
    throw new NotFoundError(`no EC2 instance ${id} (tried: DescribeInstances by id)`, { details: { node: ref, tried: [`instance id ${id}`] } });
  }

  const tried: string[] = [];
  const byDns = await describe(ec2, { Filters: [{ Name: 'private-dns-name', Values: [node] }, LIVE_STATES] }, `private-dns-name ${node}`);
  tried.push(`private-dns-name ${node} (${byDns.length} match${byDns.length === 1 ? '' : 'es'})`);
  if (byDns.length === 1) return byDns[0]!;

  if (deps.kube) {
    let providerId: string | undefined;
    try {
      const object = await deps.kube.core.readNode({ name: node });
      providerId = object.spec?.providerID;
      tried.push(`Kubernetes node ${node} (spec.providerID ${providerId ? `"${providerId}"` : 'not set'})`);
    } catch (err) {
      const status = statusOf(err);
      if (status !== 404) {
        throw new KubernetesError(`reading Kubernetes node ${node} failed${status ? ` (HTTP ${status})` : ''}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      tried.push(`Kubernetes node ${node} (not found)`);
    }
    const fromProvider = providerId ? PROVIDER_ID.exec(providerId)?.[1] : undefined;
    if (providerId && !fromProvider) tried.push(`providerID "${providerId}" is not an AWS instance`);
    if (fromProvider) {
      const instance = await byId(ec2, fromProvider);
      if (instance) return instance;
      tried.push(`instance id ${fromProvider} (not found)`);
    }
  } else {
    tried.push('Kubernetes node lookup (Kubernetes not configured)');
  }

  if (byDns.length > 1) {
    const ids = byDns.map((i) => i.InstanceId).join(', ');
    throw new ConflictError(`node "${node}" matches several EC2 instances (${ids}); give the instance id instead`, {
      code: 'AmbiguousNode',
      details: { node: ref, instanceIds: byDns.map((i) => i.InstanceId) },
    });
  }
  throw new NotFoundError(`no EC2 instance found for node "${node}" (tried: ${tried.join('; ')})`, { details: { node: ref, tried } });
}
