/** The S3 contract (objectStoreContract.ts) against moto's S3, through the product's own S3 client. */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { destroyAwsClients } from '../../src/aws/clients.js';
import { createMotoClients, MOTO_REGION, uniqueName } from '../support/aws.js';
import { describeObjectStoreContract } from './objectStoreContract.js';

describeObjectStoreContract('moto', async () => {
  const aws = createMotoClients();
  const bucket = uniqueName('contract');
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
  return { s3: aws.s3, bucket, close: async () => destroyAwsClients(aws) };
}, { gaps: { noChecksumOnHead: true, quietDeleteListsDeleted: true, acceptsWrongChecksum: true } });
