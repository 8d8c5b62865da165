import { describe, expect, it } from 'vitest';
import { selectRunMode } from '../../src/bot/selectRunMode.js';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

const DISCORD = {
  DISCORD_TOKEN: 'test-token-that-is-long-enough-0123456789',
  DISCORD_GUILD_ID: '100000000000000001',
  DISCORD_CHANNEL_ID: '100000000000000002',
  DISCORD_RESPONDER_ROLE_IDS: '100000000000000003',
};
const AWS = {
  AWS_REGION: 'ap-northeast-2',
  SENTINEL_QUEUE_URL: 'https://sqs.ap-northeast-2.amazonaws.com/123456789012/sentinel-intake',
  SENTINEL_CONTROL_QUEUE_URL: 'https://sqs.ap-northeast-2.amazonaws.com/123456789012/sentinel-control',
  SENTINEL_SFN_ROLE_ID: 'AROAEXAMPLEROLEID0001',
  SENTINEL_EVIDENCE_BUCKET: 'sentinel-evidence-123456789012-ap-northeast-2',
  SENTINEL_STATE_MACHINE_FALCO: 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:sentinel-falco-incident',
};
const config = (env: Record<string, string>) => loadConfig({ env, envFile: false });

describe('selectRunMode', () => {
  it('runs embedded with only the Discord settings, and says why', () => {
    const mode = selectRunMode(config(DISCORD));
    expect(mode.mode).toBe('embedded');
    expect(mode.why).toContain('SENTINEL_QUEUE_URL');
  });

  it('stays embedded when only AWS_REGION is set (EKS and EC2 set it for every pod)', () => {
    expect(selectRunMode(config({ ...DISCORD, AWS_REGION: 'ap-northeast-2' })).mode).toBe('embedded');
  });

  it('runs on AWS with every AWS resource setting and the region', () => {
    expect(selectRunMode(config({ ...DISCORD, ...AWS })).mode).toBe('aws');
  });

  it('refuses a half-configured AWS setup, naming each missing setting (no silent fallback)', () => {
    const half = { ...DISCORD, AWS_REGION: AWS.AWS_REGION, SENTINEL_QUEUE_URL: AWS.SENTINEL_QUEUE_URL };
    const err = (() => {
      try {
        selectRunMode(config(half));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    const text = (err as Error).message;
    for (const missing of ['SENTINEL_CONTROL_QUEUE_URL', 'SENTINEL_SFN_ROLE_ID', 'SENTINEL_EVIDENCE_BUCKET', 'SENTINEL_STATE_MACHINE_FALCO']) expect(text).toContain(missing);
    expect(text).toContain('SENTINEL_QUEUE_URL is set');
    const { AWS_REGION: _region, ...noRegion } = AWS;
    expect(() => selectRunMode(config({ ...DISCORD, ...noRegion }))).toThrow(/AWS_REGION/);
  });

  it('needs the Discord settings in either mode', () => {
    const { DISCORD_CHANNEL_ID: _c, ...noChannel } = DISCORD;
    expect(() => selectRunMode(config(noChannel))).toThrow(/DISCORD_CHANNEL_ID/);
    expect(() => selectRunMode(config({ ...noChannel, ...AWS }))).toThrow(/DISCORD_CHANNEL_ID/);
  });
});
