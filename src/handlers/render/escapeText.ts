/**
 * Makes untrusted event text (Falco output, GuardDuty titles, command lines, pod names) safe to
 * show in Discord: no markdown, no mentions, no masked links, no invisible or direction-changing
 * characters, and never longer than the limit it is given.
 *
 * Lengths are UTF-16 code units (`string.length`). Discord counts characters (code points); a
 * string within N code units is always within N code points, so every limit here is safe.
 */
import { escapeMarkdown } from 'discord.js';

export const ELLIPSIS = '…';
const ZWSP = '\u200b';

/** C0/C1 controls other than tab and newline (those are handled separately). */
const CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;
/**
 * Invisible and direction-changing characters that can make text look like something else:
 * soft hyphen, combining grapheme joiner, Arabic letter mark, Hangul fillers, Khmer and Mongolian
 * invisibles, zero-width space/non-joiner, LRM/RLM, bidi embeddings/overrides/isolates, word joiner
 * and invisible operators, variation selectors 1-14, BOM, interlinear annotations, invisible
 * musical symbols, tag characters and variation selectors 17-256 (used to smuggle hidden text).
 * The zero-width joiner is handled apart: it stays only inside emoji sequences.
 */
const INVISIBLE =
  /[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0d\ufeff\uffa0\ufff0-\ufffb]|[\u{1d173}-\u{1d17a}\u{e0000}-\u{e0fff}]/gu;
/** A zero-width joiner that does not join two emoji. */
const STRAY_ZWJ = /(?<!\p{Extended_Pictographic}[\ufe0f\u{1f3fb}-\u{1f3ff}]?)\u200d|\u200d(?!\p{Extended_Pictographic})/gu;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** More than six stacked combining marks ("zalgo" text that paints over neighbouring lines). */
const MARK_PILE = /(\p{M}{6})\p{M}+/gu;

/** Input longer than this (after the limit is taken into account) is cut before any work is done. */
const MIN_WORK_LENGTH = 4096;

export interface SanitizeOptions {
  /** Replace line breaks with spaces (titles, field names, labels). */
  singleLine?: boolean;
}

/**
 * Removes what could spoof text: lone surrogates (→ U+FFFD), controls, zero-width and bidi
 * characters, tag characters, piles of combining marks. Normalizes line breaks to `\n` (or spaces).
 */
export function sanitizeText(text: string, options: SanitizeOptions = {}): string {
  let s = text
    .replace(LONE_SURROGATE, '\ufffd')
    .replace(/\r\n?|[\u0085\u2028\u2029]/g, '\n')
    .replace(/\t/g, ' ')
    .replace(CONTROLS, '')
    .replace(INVISIBLE, '')
    .replace(STRAY_ZWJ, '')
    .replace(MARK_PILE, '$1');
  s = options.singleLine ? s.replace(/\n+/g, ' ') : s.replace(/\n{3,}/g, '\n\n');
  return s;
}

let segmenter: Intl.Segmenter | undefined;

/** Code units below U+0300 (before the combining marks) always have a grapheme boundary between them, except CR LF. */
function plainBoundary(text: string, at: number): boolean {
  const before = text.charCodeAt(at - 1);
  const after = text.charCodeAt(at);
  return before < 0x300 && after < 0x300 && !(before === 0x0d && after === 0x0a);
}

/** Graphemes are looked for this far back from the cut (a longer one is cut at a code point). */
const WINDOW = 64;

/** The largest index <= `max` that does not split a grapheme (or, failing that, a surrogate pair). */
function safeCut(text: string, max: number): number {
  if (max <= 0) return 0;
  if (max >= text.length) return text.length;
  if (plainBoundary(text, max)) return max;
  segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  // Segmenting is slow (microseconds per grapheme): look only at a window around the cut.
  const start = Math.max(0, max - WINDOW);
  let cut = -1;
  for (const { index, segment } of segmenter.segment(text.slice(start, max + 32))) {
    const end = start + index + segment.length;
    if (end > max) break;
    cut = end;
  }
  if (cut < 0) {
    // One grapheme longer than the window (or the whole budget): cut at a code point instead.
    cut = max;
    const code = text.charCodeAt(cut - 1);
    if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
  }
  return cut;
}

/** Drops a trailing backslash that would escape whatever follows (an escape cut in half). */
function dropDanglingEscape(text: string): string {
  let run = 0;
  while (run < text.length && text.charCodeAt(text.length - 1 - run) === 0x5c) run += 1;
  return run % 2 === 1 ? text.slice(0, -1) : text;
}

const FENCED = /^```\n([\s\S]*)\n```$/;

export interface TruncateOptions {
  /** Treat backslashes as markdown escapes (never end on half an escape). Default true. */
  markdown?: boolean;
  /** Add the ellipsis even if the text fits (the text was already cut earlier). */
  cut?: boolean;
}

/**
 * Cuts `text` to at most `limit` code units, ending with `…`, without splitting a grapheme,
 * a surrogate pair or a markdown escape. A fenced code block stays fenced (its content is cut).
 */
export function truncateText(text: string, limit: number, options: TruncateOptions = {}): string {
  if (!options.cut && text.length <= limit) return text;
  if (limit < ELLIPSIS.length) return '';
  const fenced = options.markdown === false ? null : FENCED.exec(text);
  if (fenced && limit >= 9) {
    return `\`\`\`\n${truncateText(fenced[1] ?? '', limit - 8, { markdown: false, cut: true })}\n\`\`\``;
  }
  if (options.cut && text.length + ELLIPSIS.length <= limit) return text + ELLIPSIS;
  let out = text.slice(0, safeCut(text, limit - ELLIPSIS.length));
  if (options.markdown !== false) {
    // In a list of lines (links, details), drop a partial last line rather than break its markup.
    const lastLine = out.lastIndexOf('\n');
    if (lastLine >= out.length / 2) return `${out.slice(0, lastLine + 1)}${ELLIPSIS}`;
    out = dropDanglingEscape(out);
  }
  return out + ELLIPSIS;
}

/** Cuts absurdly long input before the regexes run; reports whether it did. */
function precut(text: string, limit: number): { text: string; cut: boolean } {
  const cap = Math.max(limit * 8, MIN_WORK_LENGTH);
  if (text.length <= cap) return { text, cut: false };
  return { text: text.slice(0, safeCut(text, cap)), cut: true };
}

/** `@everyone`/`@here` with a zero-width space after the `@`: shown, never a mention. */
function neutralizeEveryone(text: string): string {
  return text.replace(/@(everyone|here)/gi, `@${ZWSP}$1`);
}

/** Characters that are markdown (or mentions, links, emoji) somewhere; every one of them ends up escaped. */
const MARKUP = new Set(['*', '_', '~', '|', '`', '[', ']', '<']);

/**
 * discord.js `escapeMarkdown` is quadratic in the length of a line (its italic and underline
 * look-behinds scan back to the start of the line at every position), so it runs on short pieces,
 * and only on pieces with a character it would escape. Escaping character by character (see
 * `escapeRemainingMarkup`) makes the pieces independent.
 */
const PIECE = 64;
const ESCAPABLE = /[\\*_~|`#\-.[]/;
function escapeMarkdownInPieces(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i += PIECE) {
    const piece = text.slice(i, i + PIECE);
    out += ESCAPABLE.test(piece) ? escapeMarkdown(piece, { heading: true, bulletedList: true, numberedList: true, maskedLink: true }) : piece;
  }
  return out;
}

/**
 * Adds a backslash before every markup character that `escapeMarkdown` left alone (it skips `_`
 * and `*` in URLs and after a `<:` on the same line). A character is escaped when an odd run of
 * backslashes precedes it; `escapeMarkdown` has doubled every original backslash.
 */
function escapeRemainingMarkup(text: string): string {
  let out = '';
  let backslashes = 0;
  for (const ch of text) {
    if (MARKUP.has(ch) && backslashes % 2 === 0) out += '\\';
    out += ch;
    backslashes = ch === '\\' ? backslashes + 1 : 0;
  }
  return out;
}

/**
 * Escapes untrusted text for an embed description, field value or message content: markdown
 * (bold, italics, underline, strike, spoilers, code, headings, lists, quotes, subtext), masked links,
 * user/role/channel/command mentions, custom emoji and timestamps, `@everyone`/`@here`; strips
 * spoofing characters; then cuts to `limit` with `…`.
 */
export function escapeText(text: string, limit: number, options: SanitizeOptions = {}): string {
  const pre = precut(text, limit);
  let s = sanitizeText(pre.text, options);
  let cut = pre.cut;
  // Escaping only ever adds characters: what lies beyond `limit` now would be cut anyway.
  if (s.length > limit) {
    s = s.slice(0, safeCut(s, limit));
    cut = true;
  }
  s = escapeRemainingMarkup(escapeMarkdownInPieces(s));
  // Line starts escapeMarkdown leaves (block quotes, subtext) or may miss at a piece boundary.
  s = s.replace(/^([ \t]*)(>|-#|#|[-+](?=\s)|\d+\.)/gm, (_, space: string, token: string) =>
    token.endsWith('.') ? `${space}${token.slice(0, -1)}\\.` : `${space}\\${token}`,
  );
  s = neutralizeEveryone(s);
  return truncateText(s, limit, { cut });
}

/**
 * Text shown where Discord renders no markdown (footers, author names, button labels, thread
 * names): spoofing characters stripped, single line, cut to `limit`.
 */
export function escapePlain(text: string, limit: number): string {
  const pre = precut(text, limit);
  const s = neutralizeEveryone(sanitizeText(pre.text, { singleLine: true }));
  return truncateText(s, limit, { markdown: false, cut: pre.cut });
}

/** Untrusted text as inline code (`` `x` ``): single line, backticks replaced, cut so the whole is <= `limit`. */
export function escapeInlineCode(text: string, limit: number): string {
  const pre = precut(text, limit);
  const s = neutralizeEveryone(sanitizeText(pre.text, { singleLine: true }).replace(/`/g, 'ˋ')).trim();
  if (s.length === 0) return escapeText('(empty)', limit);
  return `\`${truncateText(s, limit - 2, { markdown: false, cut: pre.cut })}\``;
}

/**
 * Untrusted text as a fenced code block, the whole block (fences included) <= `limit`:
 * runs of backticks are broken with zero-width spaces so the text cannot close the fence.
 */
export function escapeCodeBlock(text: string, limit: number): string {
  if (limit < 10) throw new RangeError(`a code block needs at least 10 characters, got ${limit}`);
  const pre = precut(text, limit);
  let s = neutralizeEveryone(sanitizeText(pre.text)).replace(/`(?=`)/g, `\`${ZWSP}`);
  if (s.trim().length === 0) s = '(empty)';
  return `\`\`\`\n${truncateText(s, limit - 8, { markdown: false, cut: pre.cut })}\n\`\`\``;
}
