import { awsSettingsFromConfig, createAwsClients, destroyAwsClients } from '../../aws/clients.js';
import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import { createStepFunctionsEngine } from '../engine/stepFunctionsEngine.js';
import { createSqsIntake } from '../intake/sqsIntake.js';
import { createWebhookIntake, webhookIntakeOptions } from '../intake/webhookIntake.js';
import type { Backend } from './backend.js';

/**
 * AWS mode: playbooks on Step Functions, two SQS queues with two trust levels (events from
 * anything that may write to the intake queue; the playbooks' own messages, which only the state
 * machines' role may send, on the control queue), evidence in S3. The webhook intake runs beside
 * them when SENTINEL_WEBHOOK_TOKEN is set.
 */
export async function createAwsBackend(config: Config, logger: Logger): Promise<Backend> {
  const aws = createAwsClients(awsSettingsFromConfig(config));
  const sqsOptions = { batchSize: config.bot.sqs.batchSize, concurrency: config.bot.sqs.concurrency, visibilitySeconds: config.bot.sqs.visibilitySeconds, waitSeconds: config.bot.sqs.waitSeconds, logger };
  const intakes: Backend['intakes'] = [
    { name: 'sqs-intake', intake: createSqsIntake(aws.sqs, { ...sqsOptions, queueUrl: config.queueUrl!, source: 'intake' }) },
    { name: 'sqs-control', intake: createSqsIntake(aws.sqs, { ...sqsOptions, queueUrl: config.controlQueueUrl!, source: 'control' }) },
  ];
  const describe: Record<string, string> = { intakeQueueUrl: config.queueUrl!, controlQueueUrl: config.controlQueueUrl!, evidenceBucket: config.evidenceBucket! };
  if (config.bot.webhook.token) {
    const webhook = await createWebhookIntake(webhookIntakeOptions(config, logger));
    intakes.push({ name: 'webhook', intake: webhook });
    describe.webhookUrl = webhook.url;
  }
  return {
    mode: 'aws',
    aws,
    evidenceBucket: config.evidenceBucket,
    engine: createStepFunctionsEngine(aws.sfn, config.bot.stateMachines),
    intakes,
    bot: config.bot,
    describe,
    async close() {
      destroyAwsClients(aws);
    },
  };
}
