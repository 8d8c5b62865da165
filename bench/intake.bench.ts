/**
 * `npm run bench:intake`: the storm's events through the bot's intake alone, beside the plain loop,
 * on the same ElasticMQ in the same run.
 *
 * `bench:storm` runs the whole bot, and on this machine's cores beside it moto's Step Functions
 * executes every playbook the storm starts (moto spends about 0.3 s of CPU on each falco-incident
 * execution: more than the bot spends on the whole storm's intake). This benchmark measures what
 * the intake itself costs: the bot's SQS intake (`createSqsIntake`, its settings as the bot runs it)
 * handing each message to `dispatchMessage` with the bot's file stores (fsync on, as the bot has
 * them), triage, the incident store, the playbook starter (an in-memory engine: a start is recorded,
 * nothing runs) and the Discord outbox (recorded, not sent). Logs go to /dev/null at `info`.
 *
 * The figure is the time until every message has been handled once, and when 99% had been. The
 * last are file-artifact repeats: a repeat's containment runs at most once per
 * SENTINEL_RECONTAIN_INTERVAL_SECONDS (5), and its message is held until then; and it needs the
 * pod, and there is no cluster here, so it asks for a retry (counted and reported; the message
 * comes back after the run).
 *
 * Reports: events/s and the ratio against the faster of the plain loop before and after; the CPU
 * this process and ElasticMQ used in each; incidents recorded and starts made.
 *
 * Options: --events N (10000), --distinct N (500), --repeated N (50), --json.
 */
import { createWriteStream, readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { createAwsClients } from '../src/aws/clients.js';
import { createSqsIntake } from '../src/bot/intake/sqsIntake.js';
import { dispatchMessage } from '../src/handlers/dispatchMessage.js';
import { createIntakeContext, DISCORD_NOT_REACHED } from '../test/helpers/intakeContext.js';
import { ensureElasticMq } from '../test/support/elasticmq/ensureElasticMq.js';
import { startElasticMq } from '../test/support/elasticmq/startElasticMq.js';
import { buildStormEvents } from './storm/buildStormEvents.js';
import { cpuSecondsOf } from './storm/cpuSecondsOf.js';
import { drainWithPlainLoop, type PlainLoopResult } from './storm/drainWithPlainLoop.js';
import { loadQueue } from './storm/loadQueue.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '10000' },
    distinct: { type: 'string', default: '500' },
    repeated: { type: 'string', default: '50' },
    json: { type: 'boolean', default: false },
  },
});
const TOTAL = Number(values.events);
const DISTINCT = Number(values.distinct);
const REPEATED = Number(values.repeated);
if (![TOTAL, DISTINCT, REPEATED].every((n) => Number.isInteger(n) && n >= 0) || TOTAL < 1) throw new Error('--events, --distinct and --repeated take whole numbers');

const REGION = 'ap-northeast-2';
const log = (line: string) => {
  if (!values.json) process.stdout.write(`${line}\n`);
};
const s = (x: number) => Math.round(x * 100) / 100;

/** This process's CPU by thread kind (the main thread, V8's collector helpers, libuv's pool), from /proc. */
function threadCpu(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+$/, '');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out[name] = (out[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

async function main(): Promise<void> {
  log(`sentinel intake benchmark: ${TOTAL} storm events (${DISTINCT} distinct incidents, ${REPEATED} repeated) through the bot's SQS intake and handlers alone, on ElasticMQ`);
  const elasticMq = await ensureElasticMq({ log });
  const emq = await startElasticMq({ deps: elasticMq.deps, region: REGION });
  try {
    const aws = createAwsClients({ region: REGION, endpoint: emq.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    const queue = async (name: string) => (await aws.sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
    const plan = buildStormEvents({ total: TOTAL, distinct: DISTINCT, repeated: REPEATED, node: 'ip-10-0-1-23.ap-northeast-2.compute.internal', namespace: 'dvwa', pod: 'dvwa-6d8f7c9b4-storm', container: 'dvwa', time: new Date() });
    const incidents = Object.values(plan.routes).reduce((n, r) => n + r.distinct + r.repeated, 0);

    log('warming ElasticMQ up (2,000 messages through a scratch queue)');
    const warm = await queue('intake-bench-warmup');
    await loadQueue(aws.sqs, warm, plan.events.slice(0, 2000));
    await drainWithPlainLoop(aws.sqs, warm, Math.min(2000, plan.events.length));

    const baseline = await queue('intake-bench-baseline');
    const plain = async (): Promise<PlainLoopResult> => {
      await loadQueue(aws.sqs, baseline, plan.events);
      return drainWithPlainLoop(aws.sqs, baseline, plan.events.length, emq.pid);
    };
    const showPlain = (p: Awaited<ReturnType<typeof plain>>) => log(`  ${p.perSecond.toFixed(0)} messages/s (${p.seconds.toFixed(1)} s; CPU: the loop ${p.cpuSeconds.toFixed(1)} s, ElasticMQ ${p.serverCpuSeconds!.toFixed(1)} s)`);
    log('the plain loop over the same messages');
    const plainBefore = await plain();
    showPlain(plainBefore);

    // The intake as the bot runs it: its SQS settings, the handlers' context with the bot's file stores.
    const ic = await createIntakeContext({ port: DISCORD_NOT_REACHED, fsync: true, log: { level: 'info', stream: createWriteStream('/dev/null') } });
    const sqsSettings = ic.ctx.bot.sqs;
    const intakeUrl = await queue('intake-bench-intake');
    await loadQueue(aws.sqs, intakeUrl, plan.events);
    log(`the intake over the same messages (batch ${sqsSettings.batchSize}, ${sqsSettings.concurrency} at once, fsync on)`);
    const outcomes: Record<string, number> = {};
    // Counted once per message: one asked to be retried may come back (after its visibility timeout).
    const seen = new Set<string>();
    let handled = 0;
    const most = Math.max(1, Math.floor(TOTAL * 0.99));
    let mostAt = 0;
    let allHandled!: () => void;
    const done = new Promise<void>((resolve) => (allHandled = resolve));
    const intake = createSqsIntake(aws.sqs, { queueUrl: intakeUrl, source: 'intake', batchSize: sqsSettings.batchSize, concurrency: sqsSettings.concurrency, visibilitySeconds: sqsSettings.visibilitySeconds, waitSeconds: sqsSettings.waitSeconds, logger: ic.ctx.logger });
    const emq0 = cpuSecondsOf(emq.pid);
    const threads0 = threadCpu();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    intake.start(async (message) => {
      const outcome = await dispatchMessage(message, ic.ctx);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      if (seen.has(message.id)) return outcome;
      seen.add(message.id);
      if (++handled === most) mostAt = performance.now();
      if (handled === TOTAL) allHandled();
      return outcome;
    });
    const deadline = setTimeout(() => allHandled(), 10 * 60_000);
    await done;
    clearTimeout(deadline);
    if (handled < TOTAL) throw new Error(`only ${handled} of ${TOTAL} messages were handled in 10 minutes`);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const threads1 = threadCpu();
    const emqCpu = cpuSecondsOf(emq.pid) - emq0;
    await intake.stop();
    const started = ic.started.size;
    await ic.close();
    const perSecond = TOTAL / seconds;
    const mostSeconds = (mostAt - t0) / 1000;
    log(`  ${perSecond.toFixed(0)} events/s (${seconds.toFixed(1)} s, ${most} handled after ${mostSeconds.toFixed(1)} s; CPU: this process ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s, ElasticMQ ${emqCpu.toFixed(1)} s)`);

    log('the plain loop again');
    const plainAfter = await plain();
    showPlain(plainAfter);

    const best = plainBefore.perSecond >= plainAfter.perSecond ? plainBefore : plainAfter;
    const threads = Object.fromEntries(Object.entries(threads1).map(([k, v]) => [k, s(v - (threads0[k] ?? 0))]).filter(([, v]) => (v as number) > 0));
    const result = {
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      cores: availableParallelism(),
      elasticMq: elasticMq.version,
      storm: { events: TOTAL, incidents, routes: plan.routes },
      intake: {
        seconds: s(seconds),
        eventsPerSecond: Math.round(perSecond),
        /** When 99% had been handled: the last are file-artifact repeats whose containment waits SENTINEL_RECONTAIN_INTERVAL_SECONDS. */
        mostHandled: { count: most, seconds: s(mostSeconds), eventsPerSecond: Math.round(most / mostSeconds) },
        cpuSeconds: s((cpu.user + cpu.system) / 1e6),
        /** By thread: MainThread (JavaScript), V8Worker (the collector's helpers), libuv-worker (file I/O). */
        cpuByThread: threads,
        elasticMqCpuSeconds: s(emqCpu),
        outcomes,
        incidentsStarted: started,
      },
      plainBefore: { perSecond: Math.round(plainBefore.perSecond), seconds: s(plainBefore.seconds), cpuSeconds: s(plainBefore.cpuSeconds), elasticMqCpuSeconds: s(plainBefore.serverCpuSeconds!) },
      plainAfter: { perSecond: Math.round(plainAfter.perSecond), seconds: s(plainAfter.seconds), cpuSeconds: s(plainAfter.cpuSeconds), elasticMqCpuSeconds: s(plainAfter.serverCpuSeconds!) },
      ratio: s(perSecond / best.perSecond),
      ratioMostHandled: s(most / mostSeconds / best.perSecond),
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      log('');
      log(`node ${result.node} ${result.platform}, ${result.cores} cores, ElasticMQ ${result.elasticMq}`);
      log(`storm                 ${TOTAL} events, ${incidents} incidents`);
      log(`intake alone          ${result.intake.eventsPerSecond} events/s (${result.intake.seconds} s), plain loop ${result.plainBefore.perSecond} / ${result.plainAfter.perSecond} msg/s before / after`);
      log(`                      ratio ${result.ratio}× the faster plain loop (the storm's target, for the whole bot: ≥ 0.8×)`);
      log(`                      ${most} (99%) handled after ${result.intake.mostHandled.seconds} s: ${result.intake.mostHandled.eventsPerSecond} events/s, ${result.ratioMostHandled}× (the last wait on file-artifact containment)`);
      log(`CPU                   intake ${result.intake.cpuSeconds} s (${Object.entries(threads).map(([k, v]) => `${k} ${v}`).join(', ')}), ElasticMQ ${result.intake.elasticMqCpuSeconds} s`);
      log(`handled               ${JSON.stringify(outcomes)} (a retry: a file-artifact repeat's containment, which needs the pod); ${started} playbook starts recorded of ${incidents} incidents`);
    }
    if (started !== incidents) throw new Error(`${started} playbook starts recorded for ${incidents} incidents: events were not handled as the bot handles them`);
  } finally {
    await emq.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
