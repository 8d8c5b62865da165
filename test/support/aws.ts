/**
 * Helpers for tests that talk to the shared moto_server started by test/globalSetup.ts.
 *
 * The product reaches moto only through configuration (endpoint + credentials) passed to its own
 * createAwsClients; there is no test-only code path in src/.
 *
 * Test files run in parallel against ONE moto, so never reset moto: isolate by unique names
 * (uniqueName) and fresh VPCs (createVpcWithSubnet).
 */
import { randomBytes } from 'node:crypto';
import { CreateSubnetCommand, CreateVpcCommand, DescribeImagesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { inject } from 'vitest';
import { createAwsClients, type AwsClients, type AwsClientSettings } from '../../src/aws/clients.js';
import { MOTO_STATE_MACHINE_ACCESS_KEY } from './moto/startMoto.js';

export const MOTO_REGION = 'ap-northeast-2';
/** moto's default account (any access key that is not a 12-digit account id maps to it). */
export const MOTO_ACCOUNT_ID = '123456789012';

export function motoSettings(): AwsClientSettings {
  return {
    region: MOTO_REGION,
    endpoint: inject('motoEndpoint'),
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
}

/** The product's clients, configured for moto. Destroy them with destroyAwsClients in afterAll. */
export function createMotoClients(): AwsClients {
  return createAwsClients(motoSettings());
}

export { MOTO_DEFAULT_SENDER_ID, MOTO_STATE_MACHINE_ROLE_ID, MOTO_STATE_MACHINE_SENDER_ID } from './moto/startMoto.js';

/**
 * Clients that call moto as the state machines' role does: their SQS messages carry the
 * state-machine SenderId (see startMoto.ts). For tests that play a playbook's part; any other
 * client sends as someone else, and the bot refuses its control messages.
 */
export function createStateMachineRoleClients(): AwsClients {
  return createAwsClients({ ...motoSettings(), credentials: { accessKeyId: MOTO_STATE_MACHINE_ACCESS_KEY, secretAccessKey: 'sk' } });
}

let counter = 0;
/**
 * A name no other test (in this run or an earlier one against the same moto) uses:
 * `${prefix}-<time><pid><counter><random>`, lower-case, safe for S3 buckets, SQS queues,
 * state machines, ASGs… Keep the prefix short, lower-case and [a-z0-9-].
 */
export function uniqueName(prefix: string): string {
  counter += 1;
  const suffix = `${Date.now().toString(36)}${process.pid.toString(36)}${counter.toString(36)}${randomBytes(3).toString('hex')}`;
  return `${prefix}-${suffix}`.toLowerCase();
}

export interface WaitForOptions {
  /** Give up after this long; default 10 s. */
  timeoutMs?: number;
  /** Pause between probes; default 100 ms. */
  intervalMs?: number;
  /** Named in the timeout error. */
  what?: string;
}

/** Polls `probe` until it returns something other than undefined (bounded; throws on timeout). */
export async function waitFor<T>(probe: () => Promise<T | undefined>, options: WaitForOptions = {}): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 100, what = 'condition' } = options;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Runs `fn`, expects it to reject, and returns the error (fails the test if it resolves). */
export async function captureError(fn: () => Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await fn();
  } catch (err) {
    return err as Error & { $metadata?: { httpStatusCode?: number } };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

export async function queueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  const arn = out.Attributes?.QueueArn;
  if (!arn) throw new Error(`no QueueArn for ${queueUrl}`);
  return arn;
}

export interface TestVpc {
  vpcId: string;
  subnetId: string;
  availabilityZone: string;
  /** The VPC's Amazon-provided IPv6 /56, when asked for. */
  ipv6CidrBlock?: string;
}

/** A fresh VPC (10.0.0.0/16, optionally with an IPv6 block) with one /24 subnet in `${region}a`. */
export async function createVpcWithSubnet(ec2: EC2Client, options: { ipv6?: boolean } = {}): Promise<TestVpc> {
  const { Vpc } = await ec2.send(
    new CreateVpcCommand({ CidrBlock: '10.0.0.0/16', AmazonProvidedIpv6CidrBlock: options.ipv6 ?? false }),
  );
  if (!Vpc?.VpcId) throw new Error('CreateVpc returned no VpcId');
  const availabilityZone = `${MOTO_REGION}a`;
  const { Subnet } = await ec2.send(
    new CreateSubnetCommand({ VpcId: Vpc.VpcId, CidrBlock: '10.0.1.0/24', AvailabilityZone: availabilityZone }),
  );
  if (!Subnet?.SubnetId) throw new Error('CreateSubnet returned no SubnetId');
  const ipv6CidrBlock = Vpc.Ipv6CidrBlockAssociationSet?.[0]?.Ipv6CidrBlock;
  return { vpcId: Vpc.VpcId, subnetId: Subnet.SubnetId, availabilityZone, ...(ipv6CidrBlock ? { ipv6CidrBlock } : {}) };
}

let cachedAmi: Promise<string> | undefined;
/**
 * An image id moto knows (moto ships a catalogue of AMIs per region). Filtered by name: listing
 * all ~1,300 Amazon images takes moto about 4 s.
 */
export function anyAmiId(ec2: EC2Client): Promise<string> {
  cachedAmi ??= (async () => {
    const filtered = await ec2.send(
      new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'name', Values: ['amzn2-ami-hvm-*'] }] }),
    );
    const images = filtered.Images?.length ? filtered.Images : (await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }))).Images;
    const id = images?.find((i) => i.ImageId)?.ImageId;
    if (!id) throw new Error('moto returned no Amazon-owned images');
    return id;
  })();
  return cachedAmi;
}
