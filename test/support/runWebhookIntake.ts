/**
 * The webhook intake alone in a process of its own (run with `node --import tsx`), so a test can
 * SIGKILL it between a 202 and the handling of the event, and start another on the same backlog.
 *
 * Environment: WEBHOOK_DIR (the backlog), WEBHOOK_TOKEN, WEBHOOK_CONCURRENCY (default 1),
 * WEBHOOK_HANG=1 (the handler announces each message on stdout, `handling <id>`, and never
 * finishes), WEBHOOK_PROCESSED (a file the handler appends `<id> <receiveCount> <body length>`
 * to, synchronously, before answering done). Prints `listening <url>` once it accepts events.
 */
import { appendFileSync } from 'node:fs';
import { createWebhookIntake } from '../../src/bot/intake/webhookIntake.js';
import { createLogger } from '../../src/logger.js';

const env = process.env;
const logger = createLogger({ level: 'debug', format: 'json', stream: process.stderr });
const intake = await createWebhookIntake({
  host: '127.0.0.1',
  port: 0,
  token: env.WEBHOOK_TOKEN,
  maxBodyBytes: 262_144,
  dir: env.WEBHOOK_DIR!,
  backlog: { maxEvents: 100, maxBytes: 16 * 1024 * 1024 },
  concurrency: Number(env.WEBHOOK_CONCURRENCY ?? 1),
  maxReceives: 5,
  retryBackoffMs: () => 100,
  logger,
});
intake.start(async (message) => {
  if (env.WEBHOOK_HANG === '1') {
    process.stdout.write(`handling ${message.id}\n`);
    return new Promise<never>(() => undefined);
  }
  appendFileSync(env.WEBHOOK_PROCESSED!, `${message.id} ${message.receiveCount} ${message.body?.length ?? 0}\n`);
  return 'done';
});
process.stdout.write(`listening ${intake.url}\n`);
process.on('SIGTERM', () => {
  void intake.stop().then(() => process.exit(0));
});
