import type { AwsClients } from '../../aws/clients.js';
import type { BotSettings } from '../../config.js';
import type { PlaybookEngine } from '../../handlers/ports/playbookEngine.js';
import type { Intake } from '../../handlers/ports/intake.js';

/**
 * What the bot runs on: AWS (Step Functions, SQS, S3) or embedded (in-process playbooks, the
 * webhook, local storage). Everything else in the bot is the same in both.
 */
export interface Backend {
  mode: 'aws' | 'embedded';
  /** The AWS clients the actions get (embedded: only the local object store as `s3`, when there is one). */
  aws: Partial<AwsClients>;
  /** Where evidence and records go (the evidence bucket, or the local store's bucket). */
  evidenceBucket: string | undefined;
  engine: PlaybookEngine;
  /** Every source of messages: events (intake) and the playbooks' messages (control). */
  intakes: { name: string; intake: Intake }[];
  /** The bot settings as this backend needs them (the trusted control sender, the playbooks it has). */
  bot: BotSettings;
  /** Where things listen or are kept, for the start-up log line. */
  describe: Record<string, string>;
  /** Releases what the backend holds (after the intakes stopped). */
  close(): Promise<void>;
}
