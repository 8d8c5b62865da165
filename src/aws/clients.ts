import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
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

export function createAwsClients(settings: AwsClientSettings): AwsClients {
  const o = awsClientOptions(settings);
  return {
    ec2: new EC2Client(o),
    autoScaling: new AutoScalingClient(o),
    s3: new S3Client({ ...o, forcePathStyle: Boolean(settings.endpoint) }),
    sqs: new SQSClient(o),
    sfn: new SFNClient(o),
    ssm: new SSMClient(o),
    cloudTrail: new CloudTrailClient(o),
    eventBridge: new EventBridgeClient(o),
  };
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

export function destroyAwsClients(clients: AwsClients): void {
  for (const c of Object.values(clients)) c.destroy();
}
