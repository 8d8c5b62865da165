/**
 * `sentinel dlq list|replay`: what is on the intake and control queues' DLQs, why each message
 * failed (the bot's dead-letter records), and moving them back.
 *
 * - list peeks at the DLQ(s) without deleting anything (each message is received, hidden for a
 *   moment, then made visible again) and joins each message with its record: kind, incident,
 *   last error, receive count, sent time. Never a body, never a token.
 * - replay --all starts SQS's own redrive (StartMessageMoveTask), which moves messages back as
 *   they were: control messages keep the state machines' SenderId, which the bot requires.
 * - replay --id (one message) and --all --resend re-send intake messages one by one (same body
 *   and attributes, then delete from the DLQ): SQS's redrive cannot pick one message, and some
 *   SQS emulators lack it. Control messages are never re-sent by hand: they would carry the
 *   operator's SenderId, and the bot refuses those.
 *
 * The DLQs come from each source queue's RedrivePolicy, read with the CLI's own credentials.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { awsSettingsFromConfig, createAwsClients, destroyAwsClients } from '../aws/clients.js';
import type { IntakeSource } from '../handlers/ports/intake.js';
import { createDeadLetterStore } from '../stores/createDeadLetterStore.js';
import { DEAD_LETTER_ID_PATTERN, type DeadLetterRecord, type DeadLetterStore } from '../stores/deadLetterStore.js';
import { ConfigError, UserError, describeError } from '../errors.js';
import { requireSettings, secretValues, type Config } from '../config.js';
import { describeDeadLetter, formatDeadLetterRows, type DeadLetterRow } from './dlq/describeDeadLetter.js';
import { countMessages, peekDeadLetters, type PeekedMessage } from './dlq/peekDeadLetters.js';
import { CONTROL_RESEND_REFUSAL, resendDeadLetter, startMoveTask } from './dlq/replayDeadLetters.js';
import { resolveDeadLetterQueue, type DeadLetterQueue } from './dlq/resolveDeadLetterQueue.js';
import type { CliContext } from './types.js';

export interface DlqListOptions {
  /** One queue's DLQ; both when absent. */
  queue?: IntakeSource;
  json: boolean;
}

export interface DlqReplayOptions {
  queue?: IntakeSource;
  /** One message (intake only: re-sent). */
  id?: string;
  /** Every message: SQS's redrive, or with `resend` (intake only) one by one. */
  all: boolean;
  resend: boolean;
  dryRun: boolean;
}

/** The source queues asked for: one (its URL must be set) or every configured one. */
function sourceQueues(config: Config, queue: IntakeSource | undefined): { queue: IntakeSource; url: string }[] {
  const known = [
    { queue: 'intake' as const, url: config.queueUrl, setting: 'SENTINEL_QUEUE_URL' as const },
    { queue: 'control' as const, url: config.controlQueueUrl, setting: 'SENTINEL_CONTROL_QUEUE_URL' as const },
  ];
  if (queue) {
    const q = known.find((k) => k.queue === queue)!;
    requireSettings(config, ['AWS_REGION', q.setting], `sentinel dlq --queue ${queue}`);
    return [{ queue, url: q.url! }];
  }
  requireSettings(config, ['AWS_REGION'], 'sentinel dlq');
  const set = known.filter((k) => k.url).map((k) => ({ queue: k.queue, url: k.url! }));
  if (!set.length) throw new ConfigError('sentinel dlq needs SENTINEL_QUEUE_URL or SENTINEL_CONTROL_QUEUE_URL (the queues whose DLQs to read)');
  return set;
}

/** Reads records without ever failing the command: a store that cannot be read is reported once, on stderr. */
class RecordReader {
  #store: DeadLetterStore | undefined;
  #warned = false;

  constructor(
    private readonly ctx: CliContext,
    s3: Parameters<typeof createDeadLetterStore>[0]['s3'],
  ) {
    const { config } = ctx;
    try {
      this.#store = createDeadLetterStore({ kind: config.bot.approvalStore, dataDir: config.dataDir, bucket: config.evidenceBucket, s3, logger: ctx.logger, secrets: secretValues(config) });
    } catch (err) {
      this.#warn(err);
    }
  }

  #warn(err: unknown): void {
    if (this.#warned) return;
    this.#warned = true;
    this.ctx.stderr.write(`sentinel dlq: the bot's failure records cannot be read${this.#store ? ` at ${this.#store.location}` : ''}: ${describeError(err)}\n`);
  }

  async get(messageId: string): Promise<DeadLetterRecord | undefined> {
    try {
      return await this.#store?.get(messageId);
    } catch (err) {
      this.#warn(err);
      return undefined;
    }
  }

  async forget(messageId: string): Promise<void> {
    try {
      await this.#store?.forget(messageId);
    } catch (err) {
      this.#warn(err);
    }
  }
}

async function withClients<T>(ctx: CliContext, run: (sqs: SQSClient, records: RecordReader) => Promise<T>): Promise<T> {
  const aws = createAwsClients(awsSettingsFromConfig(ctx.config));
  try {
    return await run(aws.sqs, new RecordReader(ctx, aws.s3));
  } finally {
    destroyAwsClients(aws);
  }
}

async function resolveAll(sqs: SQSClient, sources: { queue: IntakeSource; url: string }[]): Promise<DeadLetterQueue[]> {
  const dlqs: DeadLetterQueue[] = [];
  for (const s of sources) dlqs.push(await resolveDeadLetterQueue(sqs, s.queue, s.url));
  return dlqs;
}

interface ListedQueue {
  queue: IntakeSource;
  sourceUrl: string;
  dlqUrl: string;
  approximateTotal: number;
  truncated: boolean;
  messages: DeadLetterRow[];
}

/** `sentinel dlq list`. */
export async function runDlqList(options: DlqListOptions, ctx: CliContext): Promise<number> {
  const sources = sourceQueues(ctx.config, options.queue);
  const listed = await withClients(ctx, async (sqs, records) => {
    const out: ListedQueue[] = [];
    for (const dlq of await resolveAll(sqs, sources)) {
      const peek = await peekDeadLetters(sqs, dlq.dlqUrl);
      try {
        const messages: DeadLetterRow[] = [];
        for (const m of peek.messages) messages.push(describeDeadLetter(dlq.queue, m, await records.get(m.messageId)));
        out.push({ queue: dlq.queue, sourceUrl: dlq.sourceUrl, dlqUrl: dlq.dlqUrl, approximateTotal: peek.approximateTotal, truncated: peek.truncated, messages });
      } finally {
        await peek.release();
      }
    }
    return out;
  });
  if (options.json) {
    ctx.stdout.write(`${JSON.stringify({ queues: listed }, null, 2)}\n`);
    return 0;
  }
  for (const q of listed) {
    const count = q.truncated ? `the first ${q.messages.length} of about ${q.approximateTotal} messages` : `${q.messages.length} message${q.messages.length === 1 ? '' : 's'}`;
    ctx.stdout.write(`${q.queue} DLQ ${q.dlqUrl}: ${count}\n`);
    for (const line of formatDeadLetterRows(q.messages)) ctx.stdout.write(`${line}\n`);
  }
  return 0;
}

/** `sentinel dlq replay`. */
export async function runDlqReplay(options: DlqReplayOptions, ctx: CliContext): Promise<number> {
  if ((options.id === undefined) === !options.all) throw new UserError('replay needs exactly one of --id MESSAGE_ID or --all');
  if (options.id !== undefined && !DEAD_LETTER_ID_PATTERN.test(options.id)) throw new UserError(`--id ${JSON.stringify(options.id)}: expected an SQS message id`);
  if (options.resend && options.id !== undefined) throw new UserError('--resend goes with --all (--id always re-sends its one message)');
  if (options.resend && options.queue !== 'intake') throw new UserError(`--resend needs --queue intake: ${CONTROL_RESEND_REFUSAL}`);
  const sources = sourceQueues(ctx.config, options.queue);
  const out = (line: string) => ctx.stdout.write(`${line}\n`);
  const prefix = options.dryRun ? 'dry run: ' : '';

  return withClients(ctx, async (sqs, records) => {
    const dlqs = await resolveAll(sqs, sources);
    const shared = new Set(dlqs.map((d) => d.dlqArn)).size < dlqs.length;

    if (options.id !== undefined) return replayOne(options.id);
    if (options.resend) return resendAll(dlqs[0]!);
    return moveAll();

    /** One message: found on whichever DLQ holds it, re-sent if it is an intake message. */
    async function replayOne(id: string): Promise<number> {
      let anyTruncated = false;
      for (const dlq of dlqs) {
        const peek = await peekDeadLetters(sqs, dlq.dlqUrl);
        try {
          anyTruncated ||= peek.truncated;
          const message = peek.messages.find((m) => m.messageId === id);
          if (!message) continue;
          if (dlq.queue === 'control') {
            throw new UserError(`message ${id} is on the control queue's DLQ: ${CONTROL_RESEND_REFUSAL}. \`sentinel dlq replay --queue control --all\` moves the whole DLQ back with SQS's redrive`);
          }
          refuseResend(dlq);
          const row = describeDeadLetter(dlq.queue, message, await records.get(id));
          await resendOne(dlq, message, row);
          return 0;
        } finally {
          await peek.release();
        }
      }
      throw new UserError(`no message ${id} on the ${dlqs.map((d) => d.queue).join(' or ')} DLQ${anyTruncated ? ' (among the first 1000 read)' : ''}; \`sentinel dlq list\` shows what is there`);
    }

    function refuseResend(dlq: DeadLetterQueue): void {
      if (shared) throw new UserError('the intake and control queues share one DLQ, so a message cannot be told apart from a control message: use --all (SQS moves each message back to its own queue)');
      if (dlq.sourceUrl.endsWith('.fifo')) throw new UserError(`the ${dlq.queue} queue is a FIFO queue: messages cannot be re-sent by hand; use --all`);
    }

    async function resendOne(dlq: DeadLetterQueue, message: PeekedMessage, row: DeadLetterRow): Promise<void> {
      const why = row.lastError ? `, last error: ${row.lastError.reason}` : '';
      if (options.dryRun) {
        out(`${prefix}would re-send ${message.messageId} (${row.kind}${why}) to the ${dlq.queue} queue ${dlq.sourceUrl} and delete it from the DLQ`);
        return;
      }
      const newId = await resendDeadLetter(sqs, dlq, message);
      // The record is about the old message id; the re-sent message has a new one.
      await records.forget(message.messageId);
      out(`re-sent ${message.messageId} (${row.kind}${why}) to the ${dlq.queue} queue as ${newId}`);
    }

    /** --all --resend (intake): every message re-sent one by one. */
    async function resendAll(dlq: DeadLetterQueue): Promise<number> {
      refuseResend(dlq);
      const peek = await peekDeadLetters(sqs, dlq.dlqUrl);
      try {
        for (const m of peek.messages) await resendOne(dlq, m, describeDeadLetter(dlq.queue, m, await records.get(m.messageId)));
        const n = peek.messages.length;
        out(`${prefix}${options.dryRun ? 'would re-send' : 're-sent'} ${n} message${n === 1 ? '' : 's'} from the ${dlq.queue} DLQ${peek.truncated ? `; about ${peek.approximateTotal - n} more remain: run it again` : ''}`);
        return 0;
      } finally {
        await peek.release();
      }
    }

    /** --all: SQS's redrive, one move task per DLQ. */
    async function moveAll(): Promise<number> {
      const done = new Set<string>();
      for (const dlq of dlqs) {
        if (done.has(dlq.dlqArn)) continue;
        done.add(dlq.dlqArn);
        const count = await countMessages(sqs, dlq.dlqUrl);
        const where = shared ? 'each back to its own source queue' : `back to the ${dlq.queue} queue ${dlq.sourceUrl}`;
        if (count === 0) {
          out(`${dlq.queue} DLQ ${dlq.dlqUrl}: empty, nothing to move`);
          continue;
        }
        if (options.dryRun) {
          out(`${prefix}would start SQS's redrive (StartMessageMoveTask) of about ${count} message${count === 1 ? '' : 's'} from ${dlq.dlqUrl} ${where}`);
          continue;
        }
        const handle = await startMoveTask(sqs, dlq, shared ? undefined : dlq.sourceArn);
        out(`${dlq.queue} DLQ ${dlq.dlqUrl}: SQS is moving about ${count} message${count === 1 ? '' : 's'} ${where} (StartMessageMoveTask${handle ? `, task ${handle}` : ''}); \`sentinel dlq list\` shows what is left`);
      }
      return 0;
    }
  });
}
