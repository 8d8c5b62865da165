/**
 * resolveInstance against moto (EC2) and fakeKube (nodes): every form of node reference.
 * Each test works in its own VPC with a random CIDR, so private DNS names do not collide with
 * instances other test files create in the shared moto.
 */
import { randomInt } from 'node:crypto';
import { CreateSubnetCommand, CreateVpcCommand, RunInstancesCommand, TerminateInstancesCommand, type Instance } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../src/aws/clients.js';
import { ConflictError, NotFoundError, ValidationError } from '../../../src/errors.js';
import { createKubeClients, type KubeClients } from '../../../src/kube/clients.js';
import { resolveInstance } from '../../../src/pipeline/actions/resolveInstance.js';
import { anyAmiId, captureError, createMotoClients, MOTO_REGION, uniqueName } from '../../support/aws.js';
import { startFakeKube, type FakeKube } from '../../support/fakeKube/index.js';

let aws: AwsClients;
let fake: FakeKube;
let kube: KubeClients;

beforeAll(async () => {
  aws = createMotoClients();
  fake = await startFakeKube();
  kube = createKubeClients(fake.kubeConfig());
});
afterAll(async () => {
  destroyAwsClients(aws);
  await fake.close();
});

const AZ = `${MOTO_REGION}a`;

/** A VPC 10.a.0.0/16 with a /28 subnet at a random place in it (the same CIDR when given). */
async function subnetIn(cidr?: { vpc: string; subnet: string }): Promise<{ subnetId: string; cidr: { vpc: string; subnet: string } }> {
  const a = randomInt(1, 255);
  const chosen = cidr ?? { vpc: `10.${a}.0.0/16`, subnet: `10.${a}.${randomInt(0, 256)}.${randomInt(0, 16) * 16}/28` };
  const { Vpc } = await aws.ec2.send(new CreateVpcCommand({ CidrBlock: chosen.vpc }));
  const { Subnet } = await aws.ec2.send(new CreateSubnetCommand({ VpcId: Vpc!.VpcId!, CidrBlock: chosen.subnet, AvailabilityZone: AZ }));
  return { subnetId: Subnet!.SubnetId!, cidr: chosen };
}

async function launch(subnetId: string): Promise<Instance> {
  const out = await aws.ec2.send(
    new RunInstancesCommand({ ImageId: await anyAmiId(aws.ec2), InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: subnetId }),
  );
  const instance = out.Instances?.[0];
  if (!instance?.InstanceId || !instance.PrivateDnsName) throw new Error('RunInstances returned no instance or private DNS name');
  return instance;
}

describe('resolveInstance', () => {
  it('resolves an instance id', async () => {
    const instance = await launch((await subnetIn()).subnetId);
    const found = await resolveInstance(instance.InstanceId!, { aws });
    expect(found.InstanceId).toBe(instance.InstanceId);
    expect(found.NetworkInterfaces?.length).toBeGreaterThan(0);
  });

  it('resolves a provider id aws:///<zone>/<instance> without asking Kubernetes', async () => {
    const instance = await launch((await subnetIn()).subnetId);
    fake.clearRecords();
    const found = await resolveInstance(`aws:///${AZ}/${instance.InstanceId}`, { aws, kube });
    expect(found.InstanceId).toBe(instance.InstanceId);
    expect(fake.calls).toEqual([]);
  });

  it('resolves a node named after its private DNS name (EKS) through the private-dns-name filter', async () => {
    const instance = await launch((await subnetIn()).subnetId);
    expect(instance.PrivateDnsName).toMatch(/^ip-10-\d+-\d+-\d+\.ap-northeast-2\.compute\.internal$/);
    fake.clearRecords();
    const found = await resolveInstance(instance.PrivateDnsName!, { aws, kube });
    expect(found.InstanceId).toBe(instance.InstanceId);
    expect(found.PrivateDnsName).toBe(instance.PrivateDnsName);
    // Found in EC2: Kubernetes was not needed.
    expect(fake.calls).toEqual([]);
  });

  it('resolves a custom node name through the Kubernetes node spec.providerID', async () => {
    const instance = await launch((await subnetIn()).subnetId);
    const name = uniqueName('worker');
    fake.addNode({ name, instanceId: instance.InstanceId!, availabilityZone: AZ });
    fake.clearRecords();
    const found = await resolveInstance(name, { aws, kube });
    expect(found.InstanceId).toBe(instance.InstanceId);
    expect(fake.calls.map((c) => `${c.method} ${c.path}`)).toEqual([`GET /api/v1/nodes/${name}`]);
  });

  it('is NotFound for an unknown node, naming what it tried', async () => {
    const name = uniqueName('ghost');
    const err = await captureError(() => resolveInstance(name, { aws, kube }));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toBe(
      `no EC2 instance found for node "${name}" (tried: private-dns-name ${name} (0 matches); Kubernetes node ${name} (not found))`,
    );
  });

  it('is NotFound when the node exists but its providerID names no instance', async () => {
    const name = uniqueName('stale');
    fake.addNode({ name, instanceId: 'i-0fedcba9876543210' });
    const err = await captureError(() => resolveInstance(name, { aws, kube }));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toContain(`Kubernetes node ${name} (spec.providerID "aws:///${AZ}/i-0fedcba9876543210")`);
    expect(err.message).toContain('instance id i-0fedcba9876543210 (not found)');
  });

  it('without Kubernetes, says the node lookup was not possible', async () => {
    const name = uniqueName('ghost');
    const err = await captureError(() => resolveInstance(name, { aws }));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toContain('Kubernetes node lookup (Kubernetes not configured)');
  });

  it('is NotFound for an unknown instance id or provider id', async () => {
    const byId = await captureError(() => resolveInstance('i-0123456789abcdef9', { aws, kube }));
    expect(byId).toBeInstanceOf(NotFoundError);
    expect(byId.message).toBe('no EC2 instance i-0123456789abcdef9 (tried: DescribeInstances by id)');
    const byProvider = await captureError(() => resolveInstance(`aws:///${AZ}/i-0123456789abcdef9`, { aws, kube }));
    expect(byProvider).toBeInstanceOf(NotFoundError);
  });

  it('does not match terminated instances by name', async () => {
    const instance = await launch((await subnetIn()).subnetId);
    await aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instance.InstanceId!] }));
    const err = await captureError(() => resolveInstance(instance.PrivateDnsName!, { aws }));
    expect(err).toBeInstanceOf(NotFoundError);
  });

  it('refuses an ambiguous private DNS name, unless the Kubernetes node says which instance it is', async () => {
    // Two VPCs with the same CIDR: moto gives their first instances the same address and DNS name.
    const first = await subnetIn();
    const second = await subnetIn(first.cidr);
    const a = await launch(first.subnetId);
    const b = await launch(second.subnetId);
    expect(b.PrivateDnsName).toBe(a.PrivateDnsName);

    const err = await captureError(() => resolveInstance(a.PrivateDnsName!, { aws }));
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.message).toContain(a.InstanceId);
    expect(err.message).toContain(b.InstanceId);

    fake.addNode({ name: b.PrivateDnsName!, instanceId: b.InstanceId! });
    expect((await resolveInstance(b.PrivateDnsName!, { aws, kube })).InstanceId).toBe(b.InstanceId);
  });

  it('rejects references that are no node name, DNS name, instance id or provider id', async () => {
    for (const bad of ['', 'node with spaces', 'aws:///zone/not-an-instance', '../etc/passwd', 'x'.repeat(254)]) {
      const err = await captureError(() => resolveInstance(bad, { aws }));
      expect(err, bad).toBeInstanceOf(ValidationError);
    }
  });
});
