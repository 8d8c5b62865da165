import { ConfigError } from '../errors.js';
import { requireSettings, SETTINGS, type Config, type SettingName } from '../config.js';

/** What `sentinel start` needs whatever it runs on: the Discord side. */
export const DISCORD_SETTINGS = ['DISCORD_TOKEN', 'DISCORD_GUILD_ID', 'DISCORD_CHANNEL_ID', 'DISCORD_RESPONDER_ROLE_IDS'] as const satisfies readonly SettingName[];

/**
 * The AWS resources the bot runs on in AWS mode. All of them, or none: any one of them set
 * means AWS mode was meant, and the rest must be there too (never a silent fallback).
 * AWS_REGION is not among the markers: EKS and EC2 set it in every pod's environment.
 */
export const AWS_MODE_SETTINGS = [
  'SENTINEL_QUEUE_URL',
  'SENTINEL_CONTROL_QUEUE_URL',
  'SENTINEL_SFN_ROLE_ID',
  'SENTINEL_EVIDENCE_BUCKET',
  'SENTINEL_STATE_MACHINE_FALCO',
] as const satisfies readonly SettingName[];

export type RunMode =
  | { mode: 'embedded'; why: string }
  | { mode: 'aws'; why: string };

/**
 * Embedded (in-process playbooks, webhook intake, local storage) when no AWS resource is
 * configured; AWS (Step Functions, SQS, S3) when all of them are, with AWS_REGION. A
 * half-configured AWS setup is a ConfigError naming what is missing. Discord is needed either way.
 */
export function selectRunMode(config: Config): RunMode {
  requireSettings(config, DISCORD_SETTINGS, 'sentinel start');
  const set = AWS_MODE_SETTINGS.filter((name) => config.values[name] !== undefined);
  if (set.length === 0) {
    return { mode: 'embedded', why: `none of ${AWS_MODE_SETTINGS.join(', ')} is set: playbooks run in-process, events come through the webhook, state stays in ${config.dataDir}` };
  }
  const missing = [...AWS_MODE_SETTINGS, 'AWS_REGION' as const].filter((name) => config.values[name] === undefined);
  if (missing.length) {
    throw new ConfigError(
      `sentinel start: ${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set, so AWS mode was meant, but it also needs:\n  ${missing
        .map((n) => `${n}: expected ${SETTINGS[n].expects}`)
        .join('\n  ')}\n(leave every one of ${AWS_MODE_SETTINGS.join(', ')} unset to run embedded, without AWS)`,
      { details: { missing, set } },
    );
  }
  return { mode: 'aws', why: `${AWS_MODE_SETTINGS.join(', ')} and AWS_REGION are set: playbooks run on Step Functions, messages on SQS, evidence in S3` };
}
