/**
 * Where sentinel takes buttons and commands from. The end-to-end refusals (another guild, another
 * channel, a thread outside the incident channel) are in test/bot/interactionBoundaries.test.ts;
 * a direct message is checked here only: sentinel's commands are guild commands and its buttons
 * are posted in the incident channel, so Discord sends the bot no DM interaction to test with.
 */
import { describe, expect, it } from 'vitest';
import { checkInteractionPlace } from '../../src/handlers/checkInteractionPlace.js';

const allowed = { guildId: '100000000000000001', channelId: '200000000000000001' };

describe('checkInteractionPlace', () => {
  it('allows the incident channel of the configured guild, and a thread under it', () => {
    expect(checkInteractionPlace({ guildId: allowed.guildId, channelId: allowed.channelId }, allowed)).toEqual({ allowed: true });
    expect(checkInteractionPlace({ guildId: allowed.guildId, channelId: '300000000000000001', threadParentId: allowed.channelId }, allowed)).toEqual({ allowed: true });
  });

  it('refuses a direct message', () => {
    expect(checkInteractionPlace({ guildId: null, channelId: '400000000000000001' }, allowed)).toMatchObject({ allowed: false, code: 'direct-message' });
    // Even one whose channel id happened to be the incident channel's.
    expect(checkInteractionPlace({ guildId: null, channelId: allowed.channelId }, allowed)).toMatchObject({ allowed: false, code: 'direct-message' });
  });

  it('refuses another guild, whatever the channel', () => {
    expect(checkInteractionPlace({ guildId: '100000000000000002', channelId: allowed.channelId }, allowed)).toMatchObject({ allowed: false, code: 'other-guild' });
    expect(checkInteractionPlace({ guildId: '100000000000000002', channelId: '300000000000000001', threadParentId: allowed.channelId }, allowed)).toMatchObject({
      allowed: false,
      code: 'other-guild',
    });
  });

  it('refuses another channel, a thread under another channel, and a channel it could not resolve', () => {
    expect(checkInteractionPlace({ guildId: allowed.guildId, channelId: '300000000000000001' }, allowed)).toMatchObject({ allowed: false, code: 'other-channel' });
    expect(checkInteractionPlace({ guildId: allowed.guildId, channelId: null }, allowed)).toMatchObject({ allowed: false, code: 'other-channel' });
    expect(checkInteractionPlace({ guildId: allowed.guildId, channelId: '300000000000000001', threadParentId: '300000000000000002' }, allowed)).toMatchObject({
      allowed: false,
      code: 'thread-outside-channel',
    });
    expect(checkInteractionPlace({ guildId: allowed.guildId, channelId: '300000000000000001', threadParentId: null }, allowed)).toMatchObject({
      allowed: false,
      code: 'unknown-channel',
    });
  });

  it('gives a reason a person can read with each refusal', () => {
    const refused = checkInteractionPlace({ guildId: '100000000000000002', channelId: allowed.channelId }, allowed);
    expect(refused.allowed ? '' : refused.reason).toMatch(/another server/);
  });
});
