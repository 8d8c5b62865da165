import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ELLIPSIS, escapeCodeBlock, escapeInlineCode, escapePlain, escapeText, sanitizeText, truncateText } from '../../../src/handlers/render/escapeText.js';

const ZWSP = '\u200b';
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const BIDI_OR_INVISIBLE = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u200c\u2060\ufeff\u{e0000}-\u{e007f}]/u;

/** True if `s` ends with an odd run of backslashes (an escape cut in half), ignoring a final ellipsis. */
function danglingEscape(s: string): boolean {
  const body = s.endsWith(ELLIPSIS) ? s.slice(0, -ELLIPSIS.length) : s;
  const run = /\\+$/.exec(body);
  return Boolean(run && run[0].length % 2 === 1);
}

/** Characters at `s[i]` that are preceded by an odd number of backslashes are escaped. */
function isEscaped(s: string, i: number): boolean {
  let n = 0;
  for (let j = i - 1; j >= 0 && s[j] === '\\'; j -= 1) n += 1;
  return n % 2 === 1;
}

/** Every occurrence of `ch` in `s` is escaped by a backslash. */
function allEscaped(s: string, ch: string): boolean {
  for (let i = s.indexOf(ch); i !== -1; i = s.indexOf(ch, i + 1)) if (!isEscaped(s, i)) return false;
  return true;
}

describe('escapeText makes hostile event text inert', () => {
  it('breaks @everyone and @here with a zero-width space so they are never mentions', () => {
    const out = escapeText('ping @everyone and @here and @EVERYONE', 200);
    expect(out).not.toMatch(/@(everyone|here)/i);
    expect(out).toBe(`ping @${ZWSP}everyone and @${ZWSP}here and @${ZWSP}EVERYONE`);
  });

  it('escapes role, user, channel, slash-command, emoji and timestamp mentions (`<` escaped)', () => {
    const out = escapeText('<@&123> <@456> <@!789> <#321> </ban:1> <:pepe:42> <t:1:R>', 200);
    expect(allEscaped(out, '<')).toBe(true);
    expect(out).toContain('\\<@&123>');
  });

  it('escapes **bold**, italics, underline, strike-through, spoilers and inline code', () => {
    const out = escapeText('**bold** *it* __u__ ~~s~~ ||spoiler|| `x`', 200);
    for (const ch of ['*', '_', '~', '|', '`']) expect(allEscaped(out, ch), ch).toBe(true);
  });

  it('escapes masked links [x](url) so they render as text', () => {
    const out = escapeText('[click](http://x) and [a](<https://y>)', 200);
    expect(allEscaped(out, '[')).toBe(true);
    expect(allEscaped(out, ']')).toBe(true);
  });

  it('escapes ``` fences (so the text cannot open a code block), including what is between them', () => {
    const out = escapeText('```js\n**@everyone**```', 200);
    expect(out).not.toMatch(/(?<!\\)``/);
    expect(allEscaped(out, '`')).toBe(true);
    expect(allEscaped(out, '*')).toBe(true);
  });

  it('escapes headings, block quotes, subtext and list markers at line starts', () => {
    const out = escapeText('# big\n## bigger\n> quote\n>>> all\n-# small\n- item\n+ item\n  1. first', 200);
    const lines = out.split('\n');
    for (const line of lines.slice(0, -1)) expect(line[0]).toBe('\\');
    expect(lines.at(-1)).toBe('  1\\. first');
  });

  it('strips the right-to-left override and other bidi, zero-width and control characters', () => {
    const out = escapeText('invoice\u202Efdp.exe \u2066x\u2069 a\u200Bb c\u200Cd \u200E\u200F \u0007\u001b[31m \ufeff tag\u{E0041}', 200);
    expect(out).not.toMatch(BIDI_OR_INVISIBLE);
    expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    expect(out).toContain('invoicefdp.exe');
  });

  it('keeps emoji ZWJ sequences but drops a stray zero-width joiner', () => {
    expect(escapeText('👩‍💻 ad\u200Dmin', 100)).toBe('👩‍💻 admin');
  });

  it('replaces lone surrogates with U+FFFD', () => {
    expect(escapeText('a\ud800b\udc00c', 100)).toBe('a\ufffdb\ufffdc');
  });

  it('keeps multi-line text unless asked for one line; collapses long runs of blank lines', () => {
    expect(escapeText('a\r\nb\n\n\n\nc', 100)).toBe('a\nb\n\nc');
    expect(escapeText('a\nb', 100, { singleLine: true })).toBe('a b');
  });
});

describe('truncation', () => {
  it('cuts to the limit with an ellipsis', () => {
    const out = escapeText('x'.repeat(500), 100);
    expect(out).toHaveLength(100);
    expect(out.endsWith(ELLIPSIS)).toBe(true);
  });

  it('never cuts a surrogate pair in half, wherever the cut lands', () => {
    for (let pad = 0; pad < 4; pad += 1) {
      for (const limit of [10, 11, 255, 256, 1024]) {
        const out = escapeText('a'.repeat(pad) + '😀'.repeat(2000), limit);
        expect(out.length).toBeLessThanOrEqual(limit);
        expect(out).not.toMatch(LONE_SURROGATE);
        expect(out.endsWith(ELLIPSIS)).toBe(true);
      }
    }
  });

  it('never cuts a grapheme (emoji ZWJ sequence, flag, combining accent) in half', () => {
    const out = truncateText('ab👩‍💻', 5);
    expect(out).toBe(`ab${ELLIPSIS}`);
    expect(truncateText('abe\u0301f', 4)).toBe(`ab${ELLIPSIS}`);
  });

  it('never leaves half an escape sequence at the cut', () => {
    // Every `*` becomes `\*`; any odd limit lands between a backslash and its character somewhere.
    for (let limit = 5; limit < 40; limit += 1) {
      const out = escapeText('*'.repeat(100), limit);
      expect(out.length).toBeLessThanOrEqual(limit);
      expect(danglingEscape(out), out).toBe(false);
    }
  });

  it('still cuts very long input (100 KB) quickly and marks it as cut', () => {
    const started = Date.now();
    const out = escapeText(`${'a'.repeat(100_000)}END`, 1024);
    expect(out).toHaveLength(1024);
    expect(out.endsWith(ELLIPSIS)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('marks input as cut even when stripping made the kept part short', () => {
    const out = escapeText(`${'\u200b'.repeat(50_000)}visible`, 100);
    expect(out.endsWith(ELLIPSIS)).toBe(true);
    expect(out.length).toBeLessThanOrEqual(100);
  });

  it('property: any text escapes within the limit, with no lone surrogate, spoofing character or dangling escape', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), fc.integer({ min: 1, max: 300 }), (text, limit) => {
        const out = escapeText(text, limit);
        expect(out.length).toBeLessThanOrEqual(limit);
        expect(out).not.toMatch(LONE_SURROGATE);
        expect(out).not.toMatch(BIDI_OR_INVISIBLE);
        expect(danglingEscape(out)).toBe(false);
        expect(out).not.toMatch(/@(everyone|here)/i);
        for (const ch of ['*', '_', '`', '[', ']', '<', '~', '|']) expect(allEscaped(out, ch)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('escapeCodeBlock', () => {
  it('wraps text in a fence and breaks ``` inside it, so the text cannot close the block', () => {
    const out = escapeCodeBlock('echo ```\n**@everyone** [x](http://y)\n````', 200);
    expect(out.startsWith('```\n')).toBe(true);
    expect(out.endsWith('\n```')).toBe(true);
    const inner = out.slice(4, -4);
    expect(inner).not.toContain('``');
    expect(inner).not.toMatch(/@everyone/);
    // Inside a code block markdown does not render: the rest is kept as is.
    expect(inner).toContain('**');
  });

  it('strips the RTL override inside code too', () => {
    expect(escapeCodeBlock('a\u202Eb', 100)).toBe('```\nab\n```');
  });

  it('keeps the whole block (fences included) within the limit and still closed', () => {
    for (const limit of [10, 100, 1024]) {
      const out = escapeCodeBlock(`${'😀'.repeat(3000)}\`\`\``, limit);
      expect(out.length).toBeLessThanOrEqual(limit);
      expect(out.endsWith(`${ELLIPSIS}\n\`\`\``)).toBe(true);
      expect(out).not.toMatch(LONE_SURROGATE);
    }
  });

  it('shows an empty text as (empty), not as an empty block', () => {
    expect(escapeCodeBlock('  \n ', 100)).toBe('```\n(empty)\n```');
  });

  it('property: any text gives one closed block within the limit', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.integer({ min: 10, max: 200 }), (text, limit) => {
        const out = escapeCodeBlock(text, limit);
        expect(out.length).toBeLessThanOrEqual(limit);
        expect(out.match(/```/g)).toHaveLength(2);
        expect(out).not.toMatch(LONE_SURROGATE);
      }),
      { numRuns: 300 },
    );
  });
});

describe('escapeInlineCode and escapePlain', () => {
  it('inline code cannot be closed early: backticks are replaced', () => {
    expect(escapeInlineCode('a`b``c', 100)).toBe('`aˋbˋˋc`');
  });

  it('inline code fits the limit including its backticks', () => {
    const out = escapeInlineCode('😀'.repeat(100), 11);
    expect(out.length).toBeLessThanOrEqual(11);
    expect(out).toMatch(/^`[^`]+`$/);
    expect(out).not.toMatch(LONE_SURROGATE);
  });

  it('plain text (footers) is one line, stripped and cut, without markdown escapes', () => {
    expect(escapePlain('incident a_b\n\u202Ec', 100)).toBe('incident a_b c');
    expect(escapePlain('x'.repeat(50), 10)).toHaveLength(10);
  });

  it('sanitizeText alone caps piles of combining marks (zalgo)', () => {
    expect(sanitizeText(`a${'\u0301'.repeat(50)}b`)).toBe(`a${'\u0301'.repeat(6)}b`);
  });
});
