/**
 * The part of Discord's markdown that sentinel's messages use, as HTML: backslash escapes, bold,
 * inline code, fenced code blocks, masked links, timestamps (`<t:unix:style>`) and user mentions
 * (`<@id>`). Anything else is shown as the literal text Discord would show. Times are written
 * out by hand (UTC, English), not with Intl, so the page is the same on every Node version.
 */
import type { SampleView } from './buildDocsSamples.js';

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

const pad = (n: number) => String(n).padStart(2, '0');

function relative(at: Date, now: Date): string {
  const seconds = Math.round((at.getTime() - now.getTime()) / 1000);
  const s = Math.abs(seconds);
  const span =
    s < 45
      ? 'a few seconds'
      : s < 90
        ? 'a minute'
        : s < 45 * 60
          ? `${Math.round(s / 60)} minutes`
          : s < 90 * 60
            ? 'an hour'
            : s < 22 * 3600
              ? `${Math.round(s / 3600)} hours`
              : s < 36 * 3600
                ? 'a day'
                : `${Math.round(s / 86400)} days`;
  return seconds < 0 ? `${span} ago` : `in ${span}`;
}

/** A Discord timestamp as a reader in UTC with an English client sees it. */
export function formatDiscordTime(at: Date, style: string, now: Date): string {
  const date = `${at.getUTCDate()} ${MONTHS[at.getUTCMonth()]} ${at.getUTCFullYear()}`;
  const hm = `${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}`;
  switch (style) {
    case 'R':
      return relative(at, now);
    case 't':
      return hm;
    case 'T':
      return `${hm}:${pad(at.getUTCSeconds())}`;
    case 'd':
      return `${pad(at.getUTCDate())}/${pad(at.getUTCMonth() + 1)}/${at.getUTCFullYear()}`;
    case 'D':
      return date;
    case 'F':
      return `${DAYS[at.getUTCDay()]}, ${date} ${hm}`;
    default:
      return `${date} ${hm}`;
  }
}

/** Where the `**` that closes a bold run starting at `from` is (skipping escapes and code), or -1. */
function closingBold(text: string, from: number): number {
  for (let i = from; i < text.length; i += 1) {
    if (text[i] === '\\') i += 1;
    else if (text[i] === '`') {
      const end = text.indexOf('`', i + 1);
      if (end === -1) return -1;
      i = end;
    } else if (text.startsWith('**', i)) return i;
  }
  return -1;
}

const ESCAPABLE = /[^\p{L}\p{N}\s]/u;

/** Inline markdown (no code blocks) as HTML. */
export function renderInline(text: string, view: SampleView): string {
  const now = new Date(view.now);
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const rest = text.slice(i);
    if (c === '\\' && i + 1 < text.length && ESCAPABLE.test(text[i + 1]!)) {
      out += escapeHtml(text[i + 1]!);
      i += 2;
      continue;
    }
    if (c === '`') {
      const end = text.indexOf('`', i + 1);
      if (end > i + 1) {
        out += `<code>${escapeHtml(text.slice(i + 1, end))}</code>`;
        i = end + 1;
        continue;
      }
    }
    if (rest.startsWith('**')) {
      const end = closingBold(text, i + 2);
      if (end > i + 2) {
        out += `<strong>${renderInline(text.slice(i + 2, end), view)}</strong>`;
        i = end + 2;
        continue;
      }
    }
    if (c === '[') {
      const link = /^\[((?:\\.|[^\]\\])*)\]\((https?:\/\/[^\s)]+)\)/.exec(rest);
      if (link) {
        out += `<a href="${escapeHtml(link[2]!)}">${renderInline(link[1]!, view)}</a>`;
        i += link[0].length;
        continue;
      }
    }
    if (c === '<') {
      const time = /^<t:(-?\d+)(?::([tTdDfFR]))?>/.exec(rest);
      if (time) {
        out += `<span class="timestamp">${escapeHtml(formatDiscordTime(new Date(Number(time[1]) * 1000), time[2] ?? 'f', now))}</span>`;
        i += time[0].length;
        continue;
      }
      const mention = /^<@!?(\d{15,21})>/.exec(rest);
      if (mention) {
        out += `<span class="mention">@${escapeHtml(view.users[mention[1]!] ?? 'unknown-user')}</span>`;
        i += mention[0].length;
        continue;
      }
    }
    out += c === '\n' ? '<br>' : escapeHtml(c);
    i += 1;
  }
  return out;
}

/** Markdown with fenced code blocks (```…```) as HTML. */
export function renderDiscordMarkdown(text: string, view: SampleView): string {
  let out = '';
  let last = 0;
  for (const m of text.matchAll(/```(?:\n)?([\s\S]*?)\n?```/g)) {
    out += renderInline(text.slice(last, m.index).replace(/\n$/, ''), view);
    out += `<pre><code>${escapeHtml(m[1] ?? '')}</code></pre>`;
    last = m.index + m[0].length;
  }
  return out + renderInline(text.slice(last).replace(/^\n/, ''), view);
}
