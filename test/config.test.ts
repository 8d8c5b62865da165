import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig, requireSettings, SETTINGS } from '../src/config.js';
import { ConfigError } from '../src/errors.js';

describe('loadConfig', () => {
  it('gives defaults and a frozen object for an empty environment', () => {
    const c = loadConfig({ env: {}, envFile: false });
    expect(c.log).toEqual({ level: 'info', format: 'json' });
    expect(c.discord.apiUrl).toBe('https://discord.com/api');
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.discord)).toBe(true);
  });

  it('parses lists and ids', () => {
    const c = loadConfig({ env: { DISCORD_RESPONDER_ROLE_IDS: '111111111111111111, 222222222222222222' }, envFile: false });
    expect(c.discord.responderRoleIds).toEqual(['111111111111111111', '222222222222222222']);
  });

  it('names every bad variable at once and what it expects', () => {
    let err: unknown;
    try {
      loadConfig({ env: { SENTINEL_LOG_FORMAT: 'xml', AWS_REGION: 'mars', DISCORD_API_URL: 'not a url' }, envFile: false });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/SENTINEL_LOG_FORMAT: expected json, pretty or auto/);
    expect(msg).toMatch(/AWS_REGION: expected an AWS region/);
    expect(msg).toMatch(/DISCORD_API_URL: expected Discord REST base URL/);
  });

  it('bounds egress blocks by default, and reads the egress allowlist and AWS ranges settings safely', () => {
    const c = loadConfig({ env: { SENTINEL_EGRESS_ALLOWLIST: '8.8.8.8/24, 2001:DB8::/32, ::ffff:10.0.0.0/104' }, envFile: false });
    expect(c.pipeline).toMatchObject({ blockTtlHours: 24, naclHeadroom: 2, autoContainment: { cap: 10, windowMinutes: 60 }, awsIpRangesBlockableServices: ['EC2'] });
    expect(c.bot).toMatchObject({ blockSweepSeconds: 60, awsIpRanges: { url: 'https://ip-ranges.amazonaws.com/ip-ranges.json', refreshMinutes: 720 } });
    // One canonical form: host bits cleared, IPv6 compressed, an IPv4-mapped range as its IPv4 range.
    expect(c.pipeline.egressAllowlist).toEqual(['8.8.8.0/24', '2001:db8::/32', '10.0.0.0/8']);
    expect(() => loadConfig({ env: { SENTINEL_EGRESS_ALLOWLIST: '10.0.0.0/33' }, envFile: false })).toThrow(/SENTINEL_EGRESS_ALLOWLIST: expected/);
    expect(() => loadConfig({ env: { SENTINEL_AWS_IP_RANGES_URL: 'http://ip-ranges.example/ip-ranges.json' }, envFile: false })).toThrow(/SENTINEL_AWS_IP_RANGES_URL: .*an https:\/\/ URL/);
    expect(() => loadConfig({ env: { SENTINEL_BLOCK_TTL_HOURS: '0' }, envFile: false })).toThrow(/SENTINEL_BLOCK_TTL_HOURS/);
  });

  it('refuses an access key without its secret', () => {
    expect(() => loadConfig({ env: { AWS_ACCESS_KEY_ID: 'abc' }, envFile: false })).toThrow(/AWS_SECRET_ACCESS_KEY/);
  });

  it('reports the settings a command needs and lacks', () => {
    const c = loadConfig({ env: {}, envFile: false });
    expect(() => requireSettings(c, ['DISCORD_TOKEN', 'SENTINEL_QUEUE_URL'], 'the bot')).toThrow(/DISCORD_TOKEN: expected .*\n.*SENTINEL_QUEUE_URL/s);
  });

  it('documents every setting in .env.example', () => {
    const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
    for (const name of Object.keys(SETTINGS)) expect(example, name).toMatch(new RegExp(`^#?\\s*${name}=`, 'm'));
  });
});
