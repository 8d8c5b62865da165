import { ButtonStyle, type InteractionReplyOptions, type InteractionUpdateOptions, MessageFlags } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { OBSERVE_RESULT_NOTE, renderCommandResult, renderConfirmation, renderSecondConfirmation } from '../../../src/handlers/render/confirmMessage.js';
import { ValidationError } from '../../../src/errors.js';
import { customIds, expectWithinDiscordLimits, unicodeFill, worstPreflight } from './fixtures.js';

const preflight = {
  status: 'skipped' as const,
  summary: 'dry run: would add NACL rule 90 denying 203.0.113.45/32 on acl-0abc',
  details: { dryRun: true, networkAclId: 'acl-0abc', ruleNumber: 90, cidr: '203.0.113.45/32' },
};

describe('renderConfirmation', () => {
  it('is ephemeral, shows the command and its preflight, with Confirm (cfm:<id>:yes) and Cancel (cfm:<id>:no)', () => {
    const m = renderConfirmation({ confirmId: 'cfm_0123456789', command: '/block-ip 203.0.113.45', preflight });
    expect(m.flags).toBe(MessageFlags.Ephemeral);
    expect(m.flags).toBe(64);
    expect(m.embeds[0]?.description).toBe('/block-ip 203.0.113.45');
    const value = m.embeds[0]?.fields?.[0]?.value ?? '';
    expect(value).toContain('planned (dry run): would add NACL rule 90');
    expect(value).toContain('networkAclId: acl-0abc');
    expect(value).toContain('ruleNumber: 90');
    expect(m.components[0]?.components).toEqual([
      { type: 2, custom_id: 'cfm:cfm_0123456789:yes', label: 'Confirm', style: ButtonStyle.Danger },
      { type: 2, custom_id: 'cfm:cfm_0123456789:no', label: 'Cancel', style: ButtonStyle.Secondary },
    ]);
    expect(m.allowedMentions).toEqual({ parse: [] });
    const reply: InteractionReplyOptions = m;
    expect(reply.flags).toBe(64);
    expectWithinDiscordLimits(m);
  });

  it('disables Confirm when the preflight failed', () => {
    const m = renderConfirmation({ confirmId: 'cfm_0123456789', command: 'x', preflight: { status: 'failed', summary: 'no such NACL', details: {} } });
    expect(m.components[0]?.components.map((b) => b.disabled ?? false)).toEqual([true, false]);
  });

  it('checks the confirmation id so custom_ids stay within 100 characters', () => {
    for (const id of customIds(renderConfirmation({ confirmId: 'c'.repeat(40), command: 'x', preflight }))) expect(id.length).toBeLessThanOrEqual(100);
    expect(() => renderConfirmation({ confirmId: 'c'.repeat(41), command: 'x', preflight })).toThrow(ValidationError);
    expect(() => renderConfirmation({ confirmId: 'bad:id:123', command: 'x', preflight })).toThrow(ValidationError);
  });

  it('respects every limit with worst-case input', () => {
    expectWithinDiscordLimits(renderConfirmation({ confirmId: 'c'.repeat(40), command: unicodeFill(100_000), preflight: worstPreflight() }));
  });
});

describe('renderCommandResult', () => {
  it('shows the title, status and summary, and removes the buttons', () => {
    const m = renderCommandResult({ status: 'succeeded', summary: 'added NACL rule 90', details: { ruleNumber: 90 } }, 'Block IP');
    expect(m.embeds[0]?.title).toBe('Block IP');
    expect(m.embeds[0]?.description).toBe('✅ succeeded: added NACL rule 90\n• ruleNumber: 90');
    expect(m.components).toEqual([]);
    const update: InteractionUpdateOptions = m;
    expect(update.allowedMentions).toEqual({ parse: [] });
    expectWithinDiscordLimits(m);
  });

  it('colours by status', () => {
    const colors = (['succeeded', 'skipped', 'failed'] as const).map((status) => renderCommandResult({ status, summary: 's', details: {} }, 't').embeds[0]?.color);
    expect(new Set(colors).size).toBe(3);
  });

  it('respects every limit with worst-case input', () => {
    expectWithinDiscordLimits(renderCommandResult(worstPreflight(), unicodeFill(1000)));
  });
});

describe('renderSecondConfirmation', () => {
  const input = {
    confirmId: 'cfm_0123456789',
    command: 'isolate pod web/web-1',
    slashCommand: '/isolate',
    initiatedBy: 'discord:123456789012345678',
    reason: 'web shell @everyone **now**',
    preflight,
    expiresAt: new Date('2026-03-01T10:10:00Z'),
  };

  it('is a channel message (not ephemeral) naming who started it, why and the plan, with Confirm as second responder / Cancel', () => {
    const m = renderSecondConfirmation(input);
    expect('flags' in m).toBe(false);
    expect(m.embeds[0]?.title).toBe('Second responder needed');
    const field = (name: string) => m.embeds[0]?.fields?.find((f) => f.name === name)?.value;
    expect(field('Started by')).toBe('<@123456789012345678> with /isolate');
    expect(field('Reason')).not.toContain('**now**');
    expect(field('Reason')).not.toMatch(/(^|[^\u200b])@everyone/);
    expect(field('Plan')).toContain('planned (dry run): would add NACL rule 90');
    expect(field('Observe mode')).toBeUndefined();
    expect(m.components[0]?.components.map((b) => [b.custom_id, b.label])).toEqual([
      ['cfm:cfm_0123456789:yes', 'Confirm as second responder'],
      ['cfm:cfm_0123456789:no', 'Cancel'],
    ]);
    expect(m.allowedMentions).toEqual({ parse: [] });
    expectWithinDiscordLimits(m);
  });

  it('says when observe mode makes it a dry run, and respects every limit with worst-case input', () => {
    expect(renderSecondConfirmation({ ...input, observe: true }).embeds[0]?.fields?.find((f) => f.name === 'Observe mode')?.value).toMatch(/dry run/);
    expectWithinDiscordLimits(renderSecondConfirmation({ ...input, command: unicodeFill(100_000), reason: unicodeFill(100_000), slashCommand: unicodeFill(1000), preflight: worstPreflight() }));
  });
});

describe('renderCommandResult in observe mode, and with two confirmers', () => {
  it('says the plan was shown and nothing changed, and names both confirmers', () => {
    const m = renderCommandResult(preflight, 'isolate pod web/web-1', { observe: true, confirmedBy: ['discord:123456789012345678', 'discord:223456789012345678'] });
    expect(m.embeds[0]?.title).toBe('Observe mode, dry run: isolate pod web/web-1');
    expect(m.embeds[0]?.fields).toEqual([
      { name: 'Observe mode', value: OBSERVE_RESULT_NOTE },
      { name: 'Confirmed by', value: '<@123456789012345678>, <@223456789012345678>' },
    ]);
    expect(m.allowedMentions).toEqual({ parse: [] });
  });
});
