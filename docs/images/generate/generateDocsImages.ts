/**
 * `npm run docs:images`: renders each pictured message (buildDocsSamples) to a Discord-styled page
 * and screenshots it with headless Chromium into docs/images/<name>.png, with its sidecar JSON.
 * A picture whose sidecar already matches is left as it is (no churn); `--force` retakes every
 * one. `--check` only checks (what the test does) and exits 1 on a problem.
 *
 *   npm run docs:images [-- --chromium /usr/bin/chromium] [-- --force] [-- --check]
 *
 * Needs Chromium (Debian: `apt-get install chromium fonts-noto-color-emoji`); nothing is fetched:
 * the page is self-contained and the browser runs offline with a fresh profile.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { buildDocsSamples } from './buildDocsSamples.js';
import { buildDocsImageSidecar, DOCS_IMAGES_DIR } from './buildDocsImageSidecar.js';
import { checkDocsImages } from './checkDocsImages.js';
import { renderMessagePage } from './renderMessagePage.js';

const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface GenerateOptions {
  chromiumPath: string;
  outDir: string;
  force: boolean;
}

/** Takes the pictures that are missing or stale; returns the files written and removed. */
export async function generateDocsImages(options: GenerateOptions): Promise<{ written: string[]; removed: string[] }> {
  const samples = buildDocsSamples();
  const stale = new Set(
    options.force
      ? samples.map((s) => s.name)
      : samples.filter((s) => checkDocsImages(options.outDir, [s]).some((p) => !p.includes('belongs to no sample'))).map((s) => s.name),
  );
  const written: string[] = [];
  if (stale.size) {
    const profile = mkdtempSync(join(tmpdir(), 'sentinel-docs-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: options.chromiumPath,
      headless: true,
      args: CHROMIUM_FLAGS,
      offline: true,
      serviceWorkers: 'block',
      viewport: { width: 680, height: 400 },
      deviceScaleFactor: 1,
      colorScheme: 'dark',
      locale: 'en-GB',
      timezoneId: 'UTC',
    });
    const fetched: string[] = [];
    await context.route('**/*', (route) => {
      fetched.push(route.request().url());
      return route.abort();
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      for (const sample of samples.filter((s) => stale.has(s.name))) {
        const html = renderMessagePage(sample.payload, sample.view);
        await page.setContent(html, { waitUntil: 'load' });
        // A string: this project compiles without the DOM library.
        await page.evaluate('document.fonts.ready.then(() => true)');
        const png = await page.locator('#message').screenshot({ type: 'png', animations: 'disabled' });
        writeFileSync(join(options.outDir, `${sample.name}.png`), png);
        writeFileSync(join(options.outDir, `${sample.name}.json`), `${JSON.stringify(buildDocsImageSidecar(sample, html, png), null, 2)}\n`);
        written.push(`${sample.name}.png`, `${sample.name}.json`);
      }
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
    if (fetched.length) throw new Error(`the pages tried to fetch ${fetched.join(', ')}: they must be self-contained`);
  }
  const expected = new Set(samples.flatMap((s) => [`${s.name}.png`, `${s.name}.json`]));
  const removed = readdirSync(options.outDir).filter((f) => /\.(png|json)$/.test(f) && !expected.has(f));
  for (const f of removed) rmSync(join(options.outDir, f));
  return { written, removed };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      chromium: { type: 'string', default: '/usr/bin/chromium' },
      out: { type: 'string', default: fileURLToPath(DOCS_IMAGES_DIR) },
      force: { type: 'boolean', default: false },
      check: { type: 'boolean', default: false },
    },
  });
  if (values.check) {
    const problems = checkDocsImages(values.out);
    for (const p of problems) process.stderr.write(`${p}\n`);
    if (!problems.length) process.stdout.write('docs images are current\n');
    return problems.length ? 1 : 0;
  }
  const { written, removed } = await generateDocsImages({ chromiumPath: values.chromium, outDir: values.out, force: values.force });
  for (const f of written) process.stdout.write(`wrote   docs/images/${f}\n`);
  for (const f of removed) process.stdout.write(`removed docs/images/${f}\n`);
  if (!written.length && !removed.length) process.stdout.write('docs images are current; nothing to do (--force retakes them)\n');
  const problems = checkDocsImages(values.out);
  for (const p of problems) process.stderr.write(`${p}\n`);
  return problems.length ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`docs:images failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
