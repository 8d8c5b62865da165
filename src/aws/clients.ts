import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { createRequire } from 'node:module';
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { Config } from '../config.js';

/** Every AWS client sentinel uses, created once at start-up and passed in. */
export interface AwsClients {
  ec2: EC2Client;
  autoScaling: AutoScalingClient;
  s3: S3Client;
  sqs: SQSClient;
  sfn: SFNClient;
  ssm: SSMClient;
  cloudTrail: CloudTrailClient;
  eventBridge: EventBridgeClient;
}

export interface AwsClientSettings {
  region: string;
  /** One endpoint for every service (an emulator or a proxy); AWS itself when unset. */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** The shared client options from settings. Path-style S3 when an endpoint is set (emulators and proxies need it). */
export function awsClientOptions(settings: AwsClientSettings) {
  return {
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    maxAttempts: 3,
  };
}

/** The SDK packages are CommonJS (no `exports`): require() gives the very module an `import` gives. */
const requireModule = createRequire(import.meta.url);

type ClientOptions = ReturnType<typeof awsClientOptions> & { requestHandler: { httpAgent: HttpAgent; httpsAgent: HttpsAgent } };

/**
 * Clients made on first use, with their SDK package loaded then (not before): the bot idles on
 * SQS, Step Functions and S3 only; EC2, Auto Scaling, SSM, CloudTrail and EventBridge are for
 * containment, forensics and provisioning.
 */
const LAZY = {
  ec2: (o: ClientOptions) => new (requireModule('@aws-sdk/client-ec2') as typeof import('@aws-sdk/client-ec2')).EC2Client(o),
  autoScaling: (o: ClientOptions) => new (requireModule('@aws-sdk/client-auto-scaling') as typeof import('@aws-sdk/client-auto-scaling')).AutoScalingClient(o),
  ssm: (o: ClientOptions) => new (requireModule('@aws-sdk/client-ssm') as typeof import('@aws-sdk/client-ssm')).SSMClient(o),
  cloudTrail: (o: ClientOptions) => new (requireModule('@aws-sdk/client-cloudtrail') as typeof import('@aws-sdk/client-cloudtrail')).CloudTrailClient(o),
  eventBridge: (o: ClientOptions) => new (requireModule('@aws-sdk/client-eventbridge') as typeof import('@aws-sdk/client-eventbridge')).EventBridgeClient(o),
} satisfies { [K in keyof AwsClients]?: (o: ClientOptions) => AwsClients[K] };

/** The clients a set has made so far, for destroyAwsClients (lazy ones never used are never made). */
const made = new WeakMap<AwsClients, { destroy(): void }[]>();

/**
 * One client per service, sharing one keep-alive HTTP agent (and one HTTPS agent): their sockets
 * are pooled together. SQS, Step Functions and S3 are made at once; the others on first use
 * (each is still a plain, enumerable property: `{ ...clients }` and every action see no
 * difference). destroyAwsClients closes what was made.
 */
export function createAwsClients(settings: AwsClientSettings): AwsClients {
  const agent = { keepAlive: true, maxSockets: 50 };
  const o: ClientOptions = { ...awsClientOptions(settings), requestHandler: { httpAgent: new HttpAgent(agent), httpsAgent: new HttpsAgent(agent) } };
  const list: { destroy(): void }[] = [];
  const keep = <C extends { destroy(): void }>(client: C): C => {
    list.push(client);
    return client;
  };
  const clients = {
    s3: keep(new S3Client({ ...o, forcePathStyle: Boolean(settings.endpoint) })),
    sqs: keep(new SQSClient(o)),
    sfn: keep(new SFNClient(o)),
  } as AwsClients;
  for (const [name, make] of Object.entries(LAZY) as [keyof typeof LAZY, (o: ClientOptions) => AwsClients[keyof typeof LAZY]][]) {
    let client: AwsClients[typeof name] | undefined;
    Object.defineProperty(clients, name, {
      enumerable: true,
      configurable: false,
      get: () => (client ??= keep(make(o))),
    });
  }
  made.set(clients, list);
  return clients;
}

/** Client settings from the validated config. */
export function awsSettingsFromConfig(config: Config): AwsClientSettings {
  if (!config.aws.region) throw new Error('AWS_REGION is required');
  return {
    region: config.aws.region,
    ...(config.aws.endpoint ? { endpoint: config.aws.endpoint } : {}),
    // A copy: the config is deep-frozen, and the SDK annotates the credentials object it is given.
    ...(config.aws.credentials ? { credentials: { ...config.aws.credentials } } : {}),
  };
}

/** Destroys the clients of a set (those made so far, for a set from createAwsClients) and closes their sockets. */
export function destroyAwsClients(clients: AwsClients): void {
  const list = made.get(clients) ?? Object.values(clients);
  for (const c of list) c.destroy();
}
