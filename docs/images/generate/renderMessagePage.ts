/**
 * One bot message (content, embeds, buttons) as a self-contained HTML page styled like Discord's
 * dark theme: every style inline, system fonts only, nothing to fetch. The screenshot is taken of
 * `#message`.
 */
import type { APIEmbed, APIEmbedField } from 'discord.js';
import type { RenderedMessage } from '../../../src/handlers/render/payload.js';
import type { SampleView } from './buildDocsSamples.js';
import { escapeHtml, formatDiscordTime, renderDiscordMarkdown, renderInline } from './renderDiscordMarkdown.js';

const CSS = `
* { box-sizing: border-box; }
html, body { margin: 0; background: #313338; }
body { font-family: "DejaVu Sans", "Noto Color Emoji", sans-serif; color: #dbdee1; font-size: 15px; line-height: 1.375; -webkit-font-smoothing: antialiased; }
#message { display: flex; gap: 16px; width: 640px; padding: 14px 16px 16px 16px; background: #313338; }
.avatar { flex: none; width: 40px; height: 40px; border-radius: 50%; background: #5865f2; color: #fff; font-weight: bold; font-size: 18px; display: flex; align-items: center; justify-content: center; }
.main { min-width: 0; flex: 1; }
.header { display: flex; align-items: center; gap: 6px; margin-bottom: 4px; }
.name { color: #f2f3f5; font-weight: bold; font-size: 15px; }
.app { background: #5865f2; color: #fff; font-size: 10px; font-weight: bold; padding: 1px 4px; border-radius: 3px; line-height: 15px; }
.time { color: #949ba4; font-size: 12px; margin-left: 2px; }
.content { margin-bottom: 4px; overflow-wrap: anywhere; }
.embed { max-width: 520px; background: #2b2d31; border-left: 4px solid #1e1f22; border-radius: 4px; padding: 8px 16px 16px 12px; margin-top: 4px; font-size: 14px; }
.embed-title { color: #f2f3f5; font-weight: bold; font-size: 15px; margin-top: 8px; overflow-wrap: anywhere; }
.embed-description { margin-top: 8px; overflow-wrap: anywhere; }
.fields { display: grid; grid-template-columns: repeat(12, minmax(0, 1fr)); gap: 8px; margin-top: 8px; }
.field-name { color: #f2f3f5; font-weight: bold; margin-bottom: 2px; }
.field-value { word-wrap: break-word; overflow-wrap: anywhere; }
.footer { margin-top: 8px; color: #b5bac1; font-size: 12px; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 12.5px; background: #1e1f22; border-radius: 3px; padding: 1px 3px; }
pre { margin: 4px 0 0 0; background: #1e1f22; border: 1px solid #1e1f22; border-radius: 4px; padding: 7px; white-space: pre-wrap; overflow-wrap: anywhere; }
pre code { padding: 0; background: none; font-size: 12.5px; }
a { color: #00a8fc; text-decoration: none; }
.timestamp { background: rgba(255, 255, 255, 0.06); border-radius: 3px; padding: 0 2px; }
.mention { background: rgba(88, 101, 242, 0.3); color: #c9cdfb; border-radius: 3px; padding: 0 2px; font-weight: 500; }
.row { display: flex; gap: 8px; margin-top: 8px; }
.button { min-width: 60px; height: 32px; padding: 2px 16px; border-radius: 3px; color: #fff; font-size: 14px; font-weight: 500; display: flex; align-items: center; justify-content: center; }
.style-1 { background: #5865f2; }
.style-2 { background: #4e5058; }
.style-3 { background: #248046; }
.style-4 { background: #da373c; }
.style-5 { background: #4e5058; }
.disabled { opacity: 0.5; }
`;

/** Discord's layout: consecutive inline fields share a row (up to three); other fields take a whole row. */
export function fieldColumns(fields: readonly APIEmbedField[]): string[] {
  const spans: string[] = [];
  let row: number[] = [];
  const flush = () => {
    const width = 12 / row.length;
    row.forEach((index, n) => (spans[index] = `${1 + n * width} / ${1 + (n + 1) * width}`));
    row = [];
  };
  fields.forEach((field, index) => {
    if (field.inline) {
      row.push(index);
      if (row.length === 3) flush();
    } else {
      if (row.length) flush();
      spans[index] = '1 / 13';
    }
  });
  if (row.length) flush();
  return spans;
}

function colorOf(color: number | undefined): string {
  return color === undefined ? '#1e1f22' : `#${color.toString(16).padStart(6, '0')}`;
}

function footerTime(iso: string, now: Date): string {
  const at = new Date(iso);
  const sameDay = at.toISOString().slice(0, 10) === now.toISOString().slice(0, 10);
  return sameDay ? `Today at ${formatDiscordTime(at, 't', now)}` : formatDiscordTime(at, 'd', now) + ` ${formatDiscordTime(at, 't', now)}`;
}

function renderEmbed(embed: APIEmbed, view: SampleView): string {
  const now = new Date(view.now);
  const parts: string[] = [];
  if (embed.title) parts.push(`<div class="embed-title">${renderInline(embed.title, view)}</div>`);
  if (embed.description) parts.push(`<div class="embed-description">${renderDiscordMarkdown(embed.description, view)}</div>`);
  const fields = embed.fields ?? [];
  if (fields.length) {
    const spans = fieldColumns(fields);
    const cells = fields.map(
      (f, i) => `<div class="field" style="grid-column: ${spans[i]}"><div class="field-name">${renderInline(f.name, view)}</div><div class="field-value">${renderDiscordMarkdown(f.value, view)}</div></div>`,
    );
    parts.push(`<div class="fields">${cells.join('')}</div>`);
  }
  const footer = [embed.footer?.text ? escapeHtml(embed.footer.text) : undefined, embed.timestamp ? footerTime(embed.timestamp, now) : undefined].filter(Boolean);
  if (footer.length) parts.push(`<div class="footer">${footer.join(' • ')}</div>`);
  return `<div class="embed" style="border-left-color: ${colorOf(embed.color)}">${parts.join('')}</div>`;
}

function renderComponents(rows: RenderedMessage['components']): string {
  return rows
    .map((row) => {
      const buttons = row.components.map((b) => `<div class="button style-${b.style}${b.disabled ? ' disabled' : ''}">${escapeHtml(b.label ?? '')}</div>`);
      return `<div class="row">${buttons.join('')}</div>`;
    })
    .join('');
}

/** The page for one message, as the bot named `sentinel` posted it. */
export function renderMessagePage(payload: RenderedMessage, view: SampleView): string {
  const now = new Date(view.now);
  const body = [
    payload.content ? `<div class="content">${renderDiscordMarkdown(payload.content, view)}</div>` : '',
    ...payload.embeds.map((e) => renderEmbed(e, view)),
    renderComponents(payload.components),
  ].join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sentinel message</title><style>${CSS}</style></head>
<body><div id="message"><div class="avatar">S</div><div class="main"><div class="header"><span class="name">sentinel</span><span class="app">APP</span><span class="time">Today at ${formatDiscordTime(now, 't', now)}</span></div>${body}</div></div></body></html>
`;
}
