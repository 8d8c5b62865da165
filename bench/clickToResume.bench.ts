/**
 * `npm run bench:click`: click to resume. How long from a responder's click on Block (the fake
 * Discord dispatching INTERACTION_CREATE) until the interaction callback is accepted, until Step
 * Functions took the decision (the execution's TaskSucceeded event: the approval state is left),
 * and until the approval message shows the decision. Each beside a baseline measured in the same
 * run: a bare discord.js client that only acknowledges the click (same fake, same gateway and REST
 * path, no sentinel; measured after the bot has stopped), and a bare SendTaskSuccess to moto for a
 * task waiting in a one-step machine (measured before the bot starts).
 *
 * The bot runs in this process as `sentinel start` runs it on AWS: moto (the test suite's
 * virtualenv, made on first use) for SQS (both queues with DLQs), S3, EC2 (one instance, the
 * node) and Step Functions (the Falco incident state machine from deploy/statemachines, executed
 * by moto); the fake Discord (rate limits off) and the fake Kubernetes API from test/support.
 * Each round sends one distinct ARTIFACT_EXEC event (route approval), waits for the approval
 * message, clicks Block as a responder, and waits for the execution to finish before the next
 * round, so every click meets an otherwise idle bot.
 *
 * Options: --clicks N (default 30), --warmup N (default 3), --json.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { CreateSubnetCommand, CreateVpcCommand, DescribeImagesCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SendTaskSuccessCommand,
  StartExecutionCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { CreateQueueCommand, DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { ActionRowBuilder, ButtonBuilder, ButtonStyle, Client, Events, GatewayIntentBits, type TextChannel } from 'discord.js';
import { createAwsClients, destroyAwsClients, type AwsClients } from '../src/aws/clients.js';
import { discordCacheOptions } from '../src/bot/discordClientOptions.js';
import { startBot } from '../src/bot/startBot.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { loadStateMachineDefinitions } from '../src/provision/loadStateMachines.js';
import { startFakeDiscord, type FakeDiscord } from '../test/support/fakeDiscord/index.js';
import { startFakeKube } from '../test/support/fakeKube/index.js';
import { ensureMotoVenv } from '../test/support/moto/ensureMotoVenv.js';
import { MOTO_STATE_MACHINE_ROLE_ID, startMoto } from '../test/support/moto/startMoto.js';
import { fluentBitLine, kv } from '../test/helpers/events.js';

const { values } = parseArgs({ options: { clicks: { type: 'string', default: '30' }, warmup: { type: 'string', default: '3' }, json: { type: 'boolean', default: false } } });
const CLICKS = Number(values.clicks);
const WARMUP = Number(values.warmup);
if (!(CLICKS >= 5) || !(WARMUP >= 0)) throw new Error('--clicks must be >= 5 and --warmup >= 0');

const REGION = 'ap-northeast-2';
const ROLE_ARN = 'arn:aws:iam::123456789012:role/sentinel-sfn';
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const log = (line: string) => {
  if (!values.json) process.stdout.write(`${line}\n`);
};

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function summary(ms: readonly number[]): { p50: number; p99: number; min: number; max: number; n: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(everyMs);
  }
}

async function createQueue(aws: AwsClients, name: string): Promise<string> {
  const { QueueUrl: dlqUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const { Attributes } = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl!, AttributeNames: ['QueueArn'] }));
  const { QueueUrl } = await aws.sqs.send(
    new CreateQueueCommand({ QueueName: name, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes!.QueueArn, maxReceiveCount: 5 }) } }),
  );
  return QueueUrl!;
}

/** One instance in a fresh VPC: the node the events name (isolate-node acts on it after Block). */
async function createNode(aws: AwsClients): Promise<{ name: string; instanceId: string; privateIp: string }> {
  const { Vpc } = await aws.ec2.send(new CreateVpcCommand({ CidrBlock: '10.77.12.0/24' }));
  const { Subnet } = await aws.ec2.send(new CreateSubnetCommand({ VpcId: Vpc!.VpcId!, CidrBlock: '10.77.12.0/24', AvailabilityZone: `${REGION}a` }));
  const { Images } = await aws.ec2.send(new DescribeImagesCommand({}));
  const imageId = Images?.find((i) => i.ImageId)?.ImageId;
  if (!imageId) throw new Error('moto lists no AMI');
  const out = await aws.ec2.send(
    new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: Subnet!.SubnetId!, PrivateIpAddress: '10.77.12.34' }),
  );
  const i = out.Instances?.[0];
  if (!i?.InstanceId || !i.PrivateDnsName) throw new Error('RunInstances returned no instance');
  return { name: i.PrivateDnsName, instanceId: i.InstanceId, privateIp: i.PrivateIpAddress ?? '10.77.12.34' };
}

/** A raw Falco ARTIFACT_EXEC event (route approval) as Fluent Bit forwards it; `i` makes it a new incident. */
function artifactExec(node: string, i: number) {
  const pod = `web-click-${i}`;
  return {
    pod,
    event: fluentBitLine(
      `ARTIFACT_EXEC ${kv({ reason: 'exec_from_upload_dir', exepath: '/var/www/html/uploads/x', cmdline: `x -c id # click ${i}`, container: 'dvwa', container_id: '3f2a9c1b7d4e', pod, ns: 'dvwa', node, user: 'www-data' })}`,
      { host: node },
    ),
  };
}

/**
 * Baseline: a bare discord.js client (the bot's client options) on the same fake that acknowledges
 * a button click (deferUpdate) and nothing else. Click to callback accepted, `n` times.
 */
async function bareCallbackBaseline(discord: FakeDiscord, aliceId: string, n: number): Promise<number[]> {
  // The bot's own client options (intents, caches), so that only sentinel's work differs.
  const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.apiUrl }, ...discordCacheOptions() });
  client.on('interactionCreate', (interaction) => {
    if (interaction.isButton()) void interaction.deferUpdate();
  });
  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  await client.login(discord.token);
  await ready;
  try {
    const channel = (await client.channels.fetch(discord.channel('alerts').id)) as TextChannel;
    const row = new ActionRowBuilder<ButtonBuilder>().addComponents(new ButtonBuilder().setCustomId('bench:baseline').setLabel('Block').setStyle(ButtonStyle.Danger));
    const message = await channel.send({ content: 'click-to-resume baseline', components: [row] });
    const out: number[] = [];
    for (let i = 0; i < n + WARMUP; i++) {
      const t0 = performance.now();
      const click = discord.clickButton({ userId: aliceId, messageId: message.id, customId: 'bench:baseline' });
      const response = await click.waitForResponse();
      const t1 = performance.now();
      if (response.type !== 6) throw new Error(`baseline callback type ${response.type}`);
      if (i >= WARMUP) out.push(t1 - t0);
    }
    return out;
  } finally {
    await client.destroy();
  }
}

/** The first event of a type in an execution's history. */
async function historyEvent(aws: AwsClients, executionArn: string, type: string): Promise<HistoryEvent | undefined> {
  const h = await aws.sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
  return h.events?.find((e) => e.type === type);
}

/**
 * Baseline: SendTaskSuccess straight to moto for a task waiting in a one-step machine
 * (sqs:sendMessage.waitForTaskToken to a queue of its own). The call's round trip, and from the
 * call to the execution's TaskSucceeded event (the same measure as the bot's), `n` times.
 */
async function bareSendTaskSuccessBaseline(aws: AwsClients, suffix: string, n: number): Promise<{ call: number[]; taken: number[] }> {
  const queueUrl = await createQueue(aws, `bench-click-base-${suffix}`);
  const definition = {
    StartAt: 'Wait',
    States: {
      Wait: {
        Type: 'Task',
        Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
        Parameters: { QueueUrl: queueUrl, MessageBody: { 'taskToken.$': '$$.Task.Token' } },
        TimeoutSeconds: 300,
        End: true,
      },
    },
  };
  const sm = await aws.sfn.send(new CreateStateMachineCommand({ name: `bench-click-base-${suffix}`, definition: JSON.stringify(definition), roleArn: ROLE_ARN }));
  const call: number[] = [];
  const taken: number[] = [];
  for (let i = 0; i < n + WARMUP; i++) {
    const { executionArn } = await aws.sfn.send(new StartExecutionCommand({ stateMachineArn: sm.stateMachineArn!, name: `base-${i}` }));
    const message = await until(
      'the one-step machine to send its task token',
      async () => (await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1 }))).Messages?.[0],
      60_000,
      0,
    );
    await aws.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle! }));
    const { taskToken } = JSON.parse(message.Body!) as { taskToken: string };
    const sentAt = Date.now();
    const t0 = performance.now();
    await aws.sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify({ action: 'block' }) }));
    const t1 = performance.now();
    const event = await until('TaskSucceeded in the baseline execution', () => historyEvent(aws, executionArn!, 'TaskSucceeded'), 30_000);
    if (i >= WARMUP) {
      call.push(t1 - t0);
      taken.push(event.timestamp!.getTime() - sentAt);
    }
  }
  return { call, taken };
}

async function main(): Promise<void> {
  log('sentinel click-to-resume benchmark: Block on an approval, against moto (Step Functions) and the fake Discord');
  const venv = await ensureMotoVenv();
  const moto = await startMoto({ python: venv.python });
  const discord = await startFakeDiscord({ members: [{ username: 'alice', roles: ['Responder'] }] });
  const kube = await startFakeKube();
  const dataDir = await mkdtemp(join(tmpdir(), 'sentinel-bench-click-'));
  const aws = createAwsClients({ region: REGION, endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  const aliceId = discord.member('alice').user!.id;
  let bot: Awaited<ReturnType<typeof startBot>> | undefined;
  try {
    const suffix = Date.now().toString(36);
    log(`baseline: a bare SendTaskSuccess to moto, ${CLICKS} tasks (after ${WARMUP} warm-up)`);
    const bareSend = await bareSendTaskSuccessBaseline(aws, suffix, CLICKS);

    const [queueUrl, controlQueueUrl, node] = await Promise.all([createQueue(aws, `bench-intake-${suffix}`), createQueue(aws, `bench-control-${suffix}`), createNode(aws)]);
    const bucket = `bench-evidence-${suffix}`;
    await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: REGION } }));
    const falco = (await loadStateMachineDefinitions(controlQueueUrl)).find((d) => d.name === 'falco-incident');
    if (!falco) throw new Error('no falco-incident.asl.json in deploy/statemachines');
    const sm = await aws.sfn.send(new CreateStateMachineCommand({ name: `bench-falco-${suffix}`, definition: falco.definition, roleArn: ROLE_ARN }));
    kube.addNode({ name: node.name, instanceId: node.instanceId, availabilityZone: `${REGION}a`, internalIP: node.privateIp });
    const kubeconfig = join(dataDir, 'kubeconfig.json');
    await writeFile(kubeconfig, kube.kubeConfig().exportConfig(), { mode: 0o600 });

    const config = loadConfig({
      env: {
        DISCORD_API_URL: discord.apiUrl,
        DISCORD_TOKEN: discord.token,
        DISCORD_APPLICATION_ID: discord.applicationId,
        DISCORD_GUILD_ID: discord.guildId,
        DISCORD_CHANNEL_ID: discord.channel('alerts').id,
        DISCORD_RESPONDER_ROLE_IDS: discord.role('Responder').id,
        AWS_REGION: REGION,
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        SENTINEL_QUEUE_URL: queueUrl,
        SENTINEL_CONTROL_QUEUE_URL: controlQueueUrl,
        SENTINEL_SFN_ROLE_ID: MOTO_STATE_MACHINE_ROLE_ID,
        SENTINEL_EVIDENCE_BUCKET: bucket,
        SENTINEL_STATE_MACHINE_FALCO: sm.stateMachineArn!,
        SENTINEL_DATA_DIR: dataDir,
        SENTINEL_HTTP_HOST: '127.0.0.1',
        SENTINEL_HTTP_PORT: '0',
        SENTINEL_SQS_WAIT_SECONDS: '1',
        SENTINEL_KUBECONFIG: kubeconfig,
        SENTINEL_AWS_IP_RANGES_REFRESH_MINUTES: '0',
        SENTINEL_LOG_LEVEL: 'warn',
      },
      envFile: false,
    });
    bot = await startBot(config, createLogger({ level: 'warn', format: 'json', stream: new Writable({ write: (_c, _e, done) => done() }) }));
    log(`bot started; ${CLICKS} approvals clicked Block one at a time (after ${WARMUP} warm-up)`);

    const toCallback: number[] = [];
    const toTaken: number[] = [];
    const toShown: number[] = [];
    for (let i = 0; i < CLICKS + WARMUP; i++) {
      const { pod, event } = artifactExec(node.name, i);
      await aws.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(event) }));
      const approval = await discord.waitForMessage(
        (m) => (m.components ?? []).length > 0 && JSON.stringify(m.embeds).includes(pod) && JSON.stringify(m.components).includes('apv:'),
        120_000,
      );
      const block = JSON.stringify(approval.components).match(/"custom_id":"(apv:[^"]+:block)"/)?.[1];
      if (!block) throw new Error('the approval message has no Block button');
      const running = await until(
        'the running execution',
        async () => (await aws.sfn.send(new ListExecutionsCommand({ stateMachineArn: sm.stateMachineArn!, statusFilter: 'RUNNING' }))).executions?.[0],
        30_000,
      );

      const clickedAt = Date.now();
      const t0 = performance.now();
      const click = discord.clickButton({ userId: aliceId, messageId: approval.id, customId: block });
      const response = await click.waitForResponse();
      const t1 = performance.now();
      if (response.type !== 6) throw new Error(`the bot answered the click with callback type ${response.type}`);
      await click.waitForEdit(undefined, 60_000);
      const t2 = performance.now();
      const taken = await until('TaskSucceeded in the execution', () => historyEvent(aws, running.executionArn!, 'TaskSucceeded'), 60_000);
      // Let the playbook finish (isolate-node, record-incident, report) so that the next click meets an idle bot.
      await until(
        'the execution to finish',
        async () => ((await aws.sfn.send(new DescribeExecutionCommand({ executionArn: running.executionArn! }))).status === 'RUNNING' ? undefined : true),
        180_000,
        100,
      );
      if (i >= WARMUP) {
        toCallback.push(t1 - t0);
        toTaken.push(taken.timestamp!.getTime() - clickedAt);
        toShown.push(t2 - t0);
      }
    }

    // The other baseline once the bot has left the gateway (the fake holds one session), in the same warm process.
    await bot.stop();
    bot = undefined;
    log(`baseline: a bare discord.js client acknowledging a click, ${CLICKS} clicks (after ${WARMUP} warm-up)`);
    const bareCallback = await bareCallbackBaseline(discord, aliceId, CLICKS);

    const result = {
      node: process.version,
      clicks: CLICKS,
      loadAverage: loadavg()[0]!,
      clickToCallbackMs: summary(toCallback),
      clickToTaskSucceededMs: summary(toTaken),
      clickToDecisionShownMs: summary(toShown),
      baseline: {
        bareCallbackMs: summary(bareCallback),
        bareSendTaskSuccessCallMs: summary(bareSend.call),
        bareSendTaskSuccessToTaskSucceededMs: summary(bareSend.taken),
      },
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } else {
      const f = (n: number) => n.toFixed(1).padStart(8);
      const row = (label: string, s: ReturnType<typeof summary>) => log(`${label.padEnd(52)}${f(s.p50)}  ${f(s.p99)}  ${f(s.max)}`);
      log('');
      log(`node ${result.node}; ${CLICKS} clicks; load average ${result.loadAverage.toFixed(2)}; times in ms (the TaskSucceeded rows to moto's event timestamp, 1 ms resolution)`);
      log(`${''.padEnd(52)}     p50       p99       max`);
      row('click → interaction callback accepted', result.clickToCallbackMs);
      row('  baseline: bare discord.js client, deferUpdate', result.baseline.bareCallbackMs);
      row('click → SendTaskSuccess taken (TaskSucceeded)', result.clickToTaskSucceededMs);
      row('  baseline: bare SendTaskSuccess → TaskSucceeded', result.baseline.bareSendTaskSuccessToTaskSucceededMs);
      row('  baseline: bare SendTaskSuccess call round trip', result.baseline.bareSendTaskSuccessCallMs);
      row('click → decision shown on the approval message', result.clickToDecisionShownMs);
    }
  } finally {
    if (bot) await bot.stop();
    destroyAwsClients(aws);
    await discord.close();
    await kube.close();
    await moto.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
