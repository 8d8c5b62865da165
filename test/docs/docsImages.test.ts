/**
 * The pictures of the Discord messages in the docs (docs/images, made by `npm run docs:images`
 * with headless Chromium) are checked here without a browser: each one's sidecar holds the payload
 * it was made from, which must be what the renderers send now.
 */
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { buildDocsSamples } from '../../docs/images/generate/buildDocsSamples.js';
import { DOCS_IMAGES_DIR, pngSize } from '../../docs/images/generate/buildDocsImageSidecar.js';
import { checkDocsImages } from '../../docs/images/generate/checkDocsImages.js';
import { renderDiscordMarkdown } from '../../docs/images/generate/renderDiscordMarkdown.js';
import { fieldColumns, renderMessagePage } from '../../docs/images/generate/renderMessagePage.js';
import { renderIncidentMessage } from '../../src/handlers/render/incidentMessage.js';
import type { TriageResult } from '../../src/pipeline/triage/types.js';

const DIR = fileURLToPath(DOCS_IMAGES_DIR);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const view = { now: '2026-11-20T03:16:00.000Z', users: { '284169335425859584': 'alice' } };

const temps: string[] = [];
afterEach(() => {
  for (const t of temps.splice(0)) rmSync(t, { recursive: true, force: true });
});

/** A copy of docs/images (pictures and sidecars) to break on purpose. */
function copyOfImages(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-docs-images-'));
  temps.push(dir);
  for (const f of readdirSync(DIR).filter((f) => /\.(png|json)$/.test(f))) copyFileSync(join(DIR, f), join(dir, f));
  return dir;
}

describe('the pictures of the messages in the docs', () => {
  it('show exactly what the renderers send now (else: run npm run docs:images)', () => {
    expect(checkDocsImages(DIR)).toEqual([]);
  });

  it('cover the incident, approval, decided approval, report and notify messages, built from the sample events', () => {
    const samples = buildDocsSamples();
    expect(samples.map((s) => s.name)).toEqual(['incident', 'approval', 'approval-decided', 'report', 'notify']);
    for (const s of samples) expect(readdirSync(join(ROOT, 'test/fixtures/events'))).toContain(s.event);
    const [incident, approval, decided, report, notify] = samples;
    expect(incident!.payload.embeds[0]!.title).toBe('[CRITICAL] ARTIFACT\\_Reverse\\_Shell\\_Suspected!');
    expect(approval!.payload.components[0]!.components.map((b) => [b.label, b.disabled ?? false])).toEqual([
      ['Allow', false],
      ['Block', false],
    ]);
    expect(decided!.payload.embeds[0]!.fields![0]!.value).toContain('Blocked by <@284169335425859584>');
    expect(decided!.payload.components[0]!.components.every((b) => b.disabled)).toBe(true);
    expect(report!.payload.embeds[0]!.title).toMatch(/^Report: \[LOW\] DVWA/);
    expect(notify!.payload.embeds[0]!.footer!.text).toMatch(/^guardduty · notify · /);
  });

  it('are reported stale, with the command that fixes it, when a renderer sends something else', () => {
    const dir = copyOfImages();
    const samples = buildDocsSamples();
    const changed = samples.map((s) => (s.name === 'notify' ? { ...s, payload: { ...s.payload, embeds: [{ ...s.payload.embeds[0]!, color: 0x123456 }] } } : s));
    const problems = checkDocsImages(dir, changed);
    expect(problems).toEqual([
      'docs/images/notify.png shows an old payload: the renderers now send something else (first difference at payload.embeds[0].color); run `npm run docs:images` (needs Chromium: see docs/messages.md)',
    ]);
  });

  it('are reported when a picture was replaced, a sidecar edited, a file is missing or left over', () => {
    const dir = copyOfImages();
    const png = readFileSync(join(dir, 'report.png'));
    writeFileSync(join(dir, 'report.png'), Buffer.concat([png, Buffer.from([0])]));
    const sidecar = JSON.parse(readFileSync(join(dir, 'incident.json'), 'utf8')) as { view: { now: string } };
    sidecar.view.now = '2030-01-01T00:00:00.000Z';
    writeFileSync(join(dir, 'incident.json'), JSON.stringify(sidecar));
    unlinkSync(join(dir, 'approval.png'));
    writeFileSync(join(dir, 'digest.json'), '{}');
    const problems = checkDocsImages(dir);
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^docs\/images\/incident\.json describes another sample/);
    expect(problems[1]).toMatch(/^docs\/images\/approval\.png is missing/);
    expect(problems[2]).toMatch(/^docs\/images\/report\.png is not the picture docs\/images\/report\.json describes/);
    expect(problems[3]).toMatch(/^docs\/images\/digest\.json belongs to no sample/);
    for (const p of problems) expect(p).toContain('run `npm run docs:images`');
  });

  it('are reported when the page they were taken of changed', () => {
    const dir = copyOfImages();
    const sidecar = JSON.parse(readFileSync(join(dir, 'approval.json'), 'utf8')) as { pageSha256: string };
    sidecar.pageSha256 = '0'.repeat(64);
    writeFileSync(join(dir, 'approval.json'), JSON.stringify(sidecar));
    expect(checkDocsImages(dir)).toEqual([
      'docs/images/approval.png was taken of an older page: renderMessagePage or its styles changed; run `npm run docs:images` (needs Chromium: see docs/messages.md)',
    ]);
  });

  it('are small PNGs cropped to the message', () => {
    for (const s of buildDocsSamples()) {
      const bytes = readFileSync(join(DIR, `${s.name}.png`));
      const size = pngSize(bytes);
      expect(size, s.name).toBeDefined();
      expect(size!.width, s.name).toBeLessThanOrEqual(700);
      expect(size!.height, s.name).toBeLessThanOrEqual(1400);
      expect(bytes.length, s.name).toBeLessThan(250 * 1024);
    }
  });

  it('are shown in docs/messages.md, and the README shows the messages', () => {
    const messages = readFileSync(join(ROOT, 'docs/messages.md'), 'utf8');
    for (const s of buildDocsSamples()) expect(messages, s.name).toContain(`](images/${s.name}.png)`);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const name of ['incident', 'approval', 'approval-decided', 'report']) expect(readme, name).toContain(`](docs/images/${name}.png)`);
  });
});

describe('the Discord-styled page', () => {
  it('is self-contained: no script, stylesheet, image or font to fetch', () => {
    for (const s of buildDocsSamples()) {
      const page = renderMessagePage(s.payload, s.view);
      expect(page, s.name).not.toMatch(/<script|<link|<img|src=|url\(|@import|@font-face/i);
    }
  });

  it('shows event text as text: markup in an event cannot reach the page', () => {
    const triage = {
      source: 'falco',
      rule: '<img src=x onerror=alert(1)>',
      severity: 'high',
      route: 'record',
      target: { pod: '<script>alert(1)</script>' },
      dedupeKey: 'falco-x',
      steps: [],
      context: { cmdline: '</pre><script>alert(2)</script>' },
      warnings: [],
    } as unknown as TriageResult;
    const page = renderMessagePage(renderIncidentMessage({ incidentId: 'inc-1', triage, status: 'running', repeats: undefined }), view);
    expect(page).not.toMatch(/<script|<img/i);
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('renders the markdown the renderers write: escapes, bold, code, code blocks, links, timestamps, mentions', () => {
    const t = Math.floor(Date.parse('2026-11-20T03:14:07Z') / 1000);
    expect(renderDiscordMarkdown(`**Block** by <@284169335425859584> <t:${t}:f> (<t:${t}:R>)`, view)).toBe(
      '<strong>Block</strong> by <span class="mention">@alice</span> <span class="timestamp">20 November 2026 03:14</span> (<span class="timestamp">2 minutes ago</span>)',
    );
    expect(renderDiscordMarkdown('a\\_b \\*c\\* `x<y`', view)).toBe('a_b *c* <code>x&lt;y</code>');
    expect(renderDiscordMarkdown('[log](https://example.com/a)\n```\nrm -rf /\n```\nafter', view)).toBe(
      '<a href="https://example.com/a">log</a><pre><code>rm -rf /</code></pre>after',
    );
    expect(renderDiscordMarkdown(`<t:${t + 3600 * 5}:R>`, view)).toBe('<span class="timestamp">in 5 hours</span>');
  });

  it('lays out fields as Discord does: up to three inline fields a row, other fields a whole row', () => {
    const f = (inline: boolean) => ({ name: 'n', value: 'v', ...(inline ? { inline } : {}) });
    expect(fieldColumns([f(true), f(true), f(true), f(true), f(false), f(true), f(true)])).toEqual([
      '1 / 5',
      '5 / 9',
      '9 / 13',
      '1 / 13',
      '1 / 13',
      '1 / 7',
      '7 / 13',
    ]);
  });
});
