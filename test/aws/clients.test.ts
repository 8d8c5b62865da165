/**
 * The AWS client set: one keep-alive agent for every client (seen as TCP connections at a local
 * endpoint), clients for containment and forensics made on first use, and still plain properties
 * for everything that spreads or passes the set around.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { ListStateMachinesCommand } from '@aws-sdk/client-sfn';
import { ListQueuesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAwsClients, destroyAwsClients } from '../../src/aws/clients.js';

let server: Server;
let endpoint: string;
let connections = 0;
beforeAll(async () => {
  // Answers every request with an AWS-style error, over keep-alive connections it counts.
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(400, { 'content-type': 'application/json', 'x-amzn-query-error': 'InvalidAction;Sender' });
      res.end(JSON.stringify({ __type: 'InvalidAction', message: 'test endpoint' }));
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const settings = () => ({ region: 'eu-west-1', endpoint, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' } });

describe('createAwsClients', () => {
  it('shares one keep-alive connection pool between every client', async () => {
    const aws = createAwsClients(settings());
    try {
      const before = connections;
      // One after the other: each call finds the previous call's idle socket in the shared pool.
      for (const call of [
        () => aws.sqs.send(new ListQueuesCommand({})),
        () => aws.s3.send(new ListBucketsCommand({})),
        () => aws.sfn.send(new ListStateMachinesCommand({})),
        () => aws.ec2.send(new DescribeInstancesCommand({})),
      ]) {
        await call().catch(() => undefined);
      }
      expect(connections - before).toBe(1);
    } finally {
      destroyAwsClients(aws);
    }
  });

  it('makes containment and forensics clients on first use, once, as plain enumerable properties', () => {
    const aws = createAwsClients(settings());
    try {
      expect(Object.keys(aws).sort()).toEqual(['autoScaling', 'cloudTrail', 'ec2', 'eventBridge', 's3', 'sfn', 'sqs', 'ssm']);
      for (const name of ['ec2', 'autoScaling', 'ssm', 'cloudTrail', 'eventBridge'] as const) {
        expect(Object.getOwnPropertyDescriptor(aws, name)?.get, name).toBeTypeOf('function');
      }
      expect(aws.ssm).toBe(aws.ssm);
      expect(aws.ssm.constructor.name).toBe('SSMClient');
      // A copy (how tests and provisioning extend the set) holds the very same clients.
      const copy = { ...aws };
      expect(copy.ssm).toBe(aws.ssm);
      expect(copy.ec2).toBe(aws.ec2);
      expect(copy.ec2.constructor.name).toBe('EC2Client');
    } finally {
      destroyAwsClients(aws);
    }
  });

  it('destroys the clients it made, and still destroys a hand-made set', () => {
    const aws = createAwsClients(settings());
    const made = [aws.s3, aws.sqs, aws.sfn, aws.cloudTrail];
    const destroyed: string[] = [];
    for (const c of made) {
      const original = c.destroy.bind(c);
      c.destroy = () => {
        destroyed.push(c.constructor.name);
        original();
      };
    }
    destroyAwsClients(aws);
    expect(destroyed.sort()).toEqual(['CloudTrailClient', 'S3Client', 'SFNClient', 'SQSClient']);

    const other = createAwsClients(settings());
    const byHand = { ...other };
    destroyAwsClients(byHand);
    destroyAwsClients(other);
  });
});
