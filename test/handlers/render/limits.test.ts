import type { APIEmbed } from 'discord.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeCodeBlock } from '../../../src/handlers/render/escapeText.js';
import { LIMITS, embedLength, fitEmbed } from '../../../src/handlers/render/limits.js';
import { severityColor } from '../../../src/handlers/render/severityColor.js';
import { SEVERITIES } from '../../../src/pipeline/triage/types.js';
import { expectWithinDiscordLimits, unicodeFill } from './fixtures.js';

const field = (name: string, size: number) => ({ name, value: unicodeFill(size, name) });

describe("Discord's limits", () => {
  it('are the documented numbers', () => {
    expect(LIMITS).toMatchObject({
      embedTitle: 256,
      embedDescription: 4096,
      embedFields: 25,
      fieldName: 256,
      fieldValue: 1024,
      footerText: 2048,
      authorName: 256,
      embedTotal: 6000,
      content: 2000,
      customId: 100,
      buttonsPerRow: 5,
      actionRows: 5,
    });
  });
});

describe('fitEmbed', () => {
  it('leaves an embed within the limits unchanged', () => {
    const embed: APIEmbed = { title: 't', description: 'd', color: 1, footer: { text: 'f' }, fields: [{ name: 'n', value: 'v', inline: true }] };
    expect(fitEmbed(embed)).toEqual(embed);
  });

  it('cuts every part to its own limit without splitting surrogate pairs', () => {
    const out = fitEmbed({
      title: unicodeFill(1000),
      footer: { text: unicodeFill(5000) },
      author: { name: unicodeFill(1000) },
      fields: [{ name: unicodeFill(1000), value: unicodeFill(5000) }],
    });
    expectWithinDiscordLimits({ embeds: [out], allowedMentions: { parse: [] } });
    // Each part is cut at its limit (give or take a grapheme), not shorter: the total is within 6000.
    expect(out.title?.endsWith('…')).toBe(true);
    expect(out.title?.length).toBeGreaterThan(LIMITS.embedTitle - 8);
    expect(out.footer?.text.length).toBeGreaterThan(LIMITS.footerText - 8);
    expect(out.author?.name.length).toBeGreaterThan(LIMITS.authorName - 8);
    expect(out.fields?.[0]?.name.length).toBeGreaterThan(LIMITS.fieldName - 8);
    expect(out.fields?.[0]?.value.length).toBeGreaterThan(LIMITS.fieldValue - 8);
    const long = fitEmbed({ description: unicodeFill(10_000) });
    expect(long.description?.length).toBeLessThanOrEqual(LIMITS.embedDescription);
    expect(long.description?.length).toBeGreaterThan(LIMITS.embedDescription - 8);
  });

  it('keeps at most 25 fields, dropping the least important and keeping display order', () => {
    const fields = Array.from({ length: 30 }, (_, i) => ({ name: `f${i}`, value: 'v' }));
    // Fields 0-4 are the least important here.
    const priority = fields.map((_, i) => (i < 5 ? -100 : 0));
    const out = fitEmbed({ fields }, { priority });
    expect(out.fields?.map((f) => f.name)).toEqual(fields.slice(5).map((f) => f.name));
    // Default priority: earlier fields win.
    expect(fitEmbed({ fields }).fields?.map((f) => f.name)).toEqual(fields.slice(0, 25).map((f) => f.name));
  });

  it('over 6000: shrinks the least important field values first, then drops whole fields', () => {
    const fields = [field('keep', 1000), field('a', 1000), field('b', 1000), field('c', 1000), field('d', 1000), field('least', 1000)];
    const out = fitEmbed({ title: 'x', description: 'y'.repeat(1000), fields }, { priority: [100, 5, 4, 3, 2, 1] });
    expect(embedLength(out)).toBeLessThanOrEqual(6000);
    const byName = new Map(out.fields?.map((f) => [f.name, f.value]));
    expect(byName.get('keep')).toBe(fields[0]?.value);
    expect(byName.get('least')?.length).toBeLessThan(1000);
    expect(out.description).toBe('y'.repeat(1000));

    const crowded = Array.from({ length: 25 }, (_, i) => field(`f${i}`, 1024));
    const squeezed = fitEmbed({ title: 'x', fields: crowded });
    expect(embedLength(squeezed)).toBeLessThanOrEqual(6000);
    // The first (most important) fields keep their whole value; the last ones were shrunk first.
    expect(squeezed.fields?.[0]?.value).toBe(crowded[0]?.value);
    expect(squeezed.fields?.[24]?.value.length).toBeLessThanOrEqual(64);
    expect(squeezed.fields?.[24]?.value.endsWith('…')).toBe(true);

    // Names are never shrunk: 25 names of 256 characters (6400) only fit by dropping fields.
    const named = Array.from({ length: 25 }, (_, i) => ({ name: `${i}`.padEnd(256, '.'), value: 'v' }));
    const dropped = fitEmbed({ fields: named }, { priority: named.map((_, i) => (i === 0 ? -1 : 0)) });
    expect(embedLength(dropped)).toBeLessThanOrEqual(6000);
    const kept = dropped.fields?.map((f) => f.name.replace(/\.+$/, '')) ?? [];
    expect(kept).not.toContain('0'); // the least important one (priority -1) went first
    expect(kept).not.toContain('24'); // then the last of the equally important ones
    expect(kept.slice(0, 3)).toEqual(['1', '2', '3']);
  });

  it('is stable: the same input always gives the same output', () => {
    const input: APIEmbed = { title: 'x', fields: Array.from({ length: 25 }, (_, i) => field(`f${i}`, 1024)) };
    expect(fitEmbed(input)).toEqual(fitEmbed(structuredClone(input)));
  });

  it('honours a smaller budget (several embeds in one message)', () => {
    const out = fitEmbed({ title: unicodeFill(300), description: unicodeFill(4096), footer: { text: unicodeFill(2048) }, author: { name: unicodeFill(256) } }, { budget: 500 });
    expect(embedLength(out)).toBeLessThanOrEqual(500);
    expect(out.title?.length).toBeGreaterThan(0);
  });

  it('keeps a code block closed when it cuts it', () => {
    const value = escapeCodeBlock('x'.repeat(5000), 1024);
    const out = fitEmbed({ fields: Array.from({ length: 7 }, (_, i) => ({ name: `f${i}`, value })) });
    expect(embedLength(out)).toBeLessThanOrEqual(6000);
    for (const f of out.fields ?? []) {
      expect(f.value.startsWith('```\n')).toBe(true);
      expect(f.value.endsWith('\n```')).toBe(true);
    }
  });

  it('replaces empty names and values (Discord rejects them)', () => {
    const out = fitEmbed({ fields: [{ name: '', value: '' }] });
    expect(out.fields?.[0]?.name.length).toBeGreaterThan(0);
    expect(out.fields?.[0]?.value.length).toBeGreaterThan(0);
  });

  it('property: any embed comes out within every limit', () => {
    const text = (max: number) => fc.string({ unit: 'grapheme', maxLength: max });
    fc.assert(
      fc.property(
        fc.record({
          title: text(400),
          description: text(5000),
          footer: text(2500),
          author: text(400),
          fields: fc.array(fc.record({ name: text(300), value: text(1500) }), { maxLength: 40 }),
        }),
        (e) => {
          const out = fitEmbed({ title: e.title, description: e.description, footer: { text: e.footer }, author: { name: e.author }, fields: e.fields });
          expectWithinDiscordLimits({ embeds: [out], allowedMentions: { parse: [] } });
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('severityColor', () => {
  it('gives critical red, high orange, medium yellow, low blue and info grey', () => {
    const rgb = (c: number) => [(c >> 16) & 0xff, (c >> 8) & 0xff, c & 0xff] as const;
    const [cr, cg, cb] = rgb(severityColor('critical'));
    expect(cr).toBeGreaterThan(0xb0);
    expect(cg).toBeLessThan(0x60);
    expect(cb).toBeLessThan(0x60);
    const [hr, hg, hb] = rgb(severityColor('high'));
    expect(hr).toBeGreaterThan(0xe0);
    expect(hg).toBeGreaterThan(0x60);
    expect(hg).toBeLessThan(0xa0);
    expect(hb).toBeLessThan(0x40);
    const [mr, mg, mb] = rgb(severityColor('medium'));
    expect(mr).toBeGreaterThan(0xe0);
    expect(mg).toBeGreaterThan(0xa0);
    expect(mb).toBeLessThan(0x60);
    const [lr, , lb] = rgb(severityColor('low'));
    expect(lb).toBeGreaterThan(lr + 0x60);
    const [ir, ig, ib] = rgb(severityColor('info'));
    expect(ir).toBe(ig);
    expect(ig).toBe(ib);
    expect(new Set(SEVERITIES.map(severityColor)).size).toBe(SEVERITIES.length);
  });
});
