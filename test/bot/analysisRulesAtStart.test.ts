/**
 * A team's analysis rules (SENTINEL_ANALYSIS_RULES_DIR) are checked when the bot starts, like the
 * playbook config: a bad file stops the start, naming file, line and reason, before any client,
 * intake or Discord connection is made.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startBot } from '../../src/bot/startBot.js';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { createSilentLogger } from '../../src/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'sentinel-rules-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const discord = { DISCORD_TOKEN: 'not-a-real-token-for-this-test', DISCORD_GUILD_ID: '100000000000000001', DISCORD_CHANNEL_ID: '100000000000000002', DISCORD_RESPONDER_ROLE_IDS: '100000000000000003' };

describe('the bot at start', () => {
  it('refuses a bad rule file of the team, naming it, before anything starts', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'rules:\n  - id: Bad Id\n');
    const config = loadConfig({ env: { ...discord, SENTINEL_DATA_DIR: join(dir, 'data'), SENTINEL_ANALYSIS_RULES_DIR: dir }, envFile: false });
    const started = startBot(config, createSilentLogger());
    await expect(started).rejects.toBeInstanceOf(ConfigError);
    await expect(started).rejects.toThrow(/bad\.yaml:2:9: rules\[0\]\.id: an id of lower-case letters/);
  });
});
