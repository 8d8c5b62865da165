import { describe, expect, it } from 'vitest';
import { renderDigest, renderDigestPage } from '../../../src/bot/outbox/digestMessage.js';
import { summarizeDigest, type DigestMember } from '../../../src/bot/outbox/planDigest.js';
import { expectWithinDiscordLimits, worstTriage } from '../../handlers/render/fixtures.js';

const member = (i: number, over: Partial<DigestMember> = {}): DigestMember => ({ incidentId: `inc-${i.toString(16).padStart(20, '0')}`, target: `dvwa/web-${i % 3}`, severity: 'medium', status: 'running', ...over });

describe('renderDigest', () => {
  it('counts, where they stand, the top targets (most first), the span and the thread', () => {
    const members = [member(0), member(1, { status: 'done' }), member(2, { status: 'failed', severity: 'high' }), member(3, { status: 'done' }), member(4)];
    const m = renderDigest({ digestId: 'dg1', rule: 'Storm probe', targetClass: 'pod', summary: summarizeDigest(members), openedAt: new Date('2026-12-01T10:00:00Z'), lastJoinAt: new Date('2026-12-01T10:05:00Z'), pages: 1 });
    const embed = m.embeds[0]!;
    const field = (name: string) => embed.fields?.find((f) => f.name === name)?.value;
    expect(embed.title).toBe('🌩 Storm: [HIGH] Storm probe');
    expect(field('Incidents')).toBe('5');
    expect(field('Where they stand')).toBe('⏳ running: 2 · ✅ done: 2 · ❌ failed: 1');
    expect(field('Top pods')).toBe('`dvwa/web-0` × 2\n`dvwa/web-1` × 2\n`dvwa/web-2` × 1');
    expect(field('Full list')).toMatch(/thread \(1 page\)/);
    expect(embed.footer?.text).toBe('digest dg1 · pod');
    expectWithinDiscordLimits(m);
  });

  it('keeps hostile rule and target text inert and within Discord limits, however many members', () => {
    const hostile = worstTriage();
    const members = Array.from({ length: 5000 }, (_, i) => member(i, { target: `${hostile.target.pod}-${i}` }));
    const m = renderDigest({ digestId: 'dg2', rule: hostile.rule, targetClass: 'pod', summary: summarizeDigest(members), openedAt: new Date(), lastJoinAt: new Date(), pages: 250 });
    expectWithinDiscordLimits(m);
    const text = JSON.stringify(m.embeds);
    expect(text).not.toMatch(/@(everyone|here)/);
    const page = renderDigestPage(members.slice(0, 20), 0, members.length);
    expectWithinDiscordLimits(page);
    expect(page.content).toMatch(/^\*\*Incidents 1–20 of 5000\*\*/);
    expect(page.content).not.toMatch(/@(everyone|here)/);
  });
});
