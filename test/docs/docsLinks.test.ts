/**
 * The README and docs/*.md point at files, headings and npm scripts that exist: a renamed file,
 * heading or script breaks a link a responder follows in the middle of an incident.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** Markdown without its fenced code blocks and inline code (links there are not links). */
function prose(text: string): string {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(join(ROOT, file), 'utf8').replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const m of text.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = headingAnchor(m[1]!);
    const n = seen.get(base) ?? 0;
    anchors.add(n === 0 ? base : `${base}-${n}`);
    seen.set(base, n + 1);
  }
  return anchors;
}

function links(file: string): string[] {
  const text = prose(readFileSync(join(ROOT, file), 'utf8'));
  return [...text.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!);
}

describe('the links in the README and docs', () => {
  it('reach files that exist', () => {
    const broken: string[] = [];
    // The check sees the links: the README alone has a dozen.
    expect(links('README.md').length).toBeGreaterThan(10);
    for (const file of DOCS) {
      for (const link of links(file)) {
        if (/^[a-z]+:/i.test(link) || link.startsWith('#')) continue;
        const path = link.split('#')[0]!;
        const target = join(dirname(join(ROOT, file)), decodeURIComponent(path));
        if (!existsSync(target)) broken.push(`${file}: ${link}`);
        else if (!relative(ROOT, target) || relative(ROOT, target).startsWith('..')) broken.push(`${file}: ${link} leaves the repository`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('reach headings that exist', () => {
    const broken: string[] = [];
    expect(anchorsOf('docs/troubleshooting.md')).toContain('refused-control-messages-senderid');
    for (const file of DOCS) {
      for (const link of links(file)) {
        if (/^[a-z]+:/i.test(link) || !link.includes('#')) continue;
        const [path, anchor] = link.split('#') as [string, string];
        const target = path ? relative(ROOT, join(dirname(join(ROOT, file)), decodeURIComponent(path))) : file;
        if (!target.endsWith('.md') || !existsSync(join(ROOT, target)) || statSync(join(ROOT, target)).isDirectory()) continue;
        if (!anchorsOf(target).has(anchor)) broken.push(`${file}: ${link}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('name npm scripts that exist', () => {
    const scripts = Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);
    const missing: string[] = [];
    for (const file of DOCS) {
      for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(/npm run ([A-Za-z0-9:_-]+)/g)) {
        if (!scripts.includes(m[1]!)) missing.push(`${file}: npm run ${m[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('make GitHub-style anchors from headings', () => {
    expect(headingAnchor("6. Falco: Falcosidekick's SQS output")).toBe('6-falco-falcosidekicks-sqs-output');
    expect(headingAnchor('`approval-request`: ask the team')).toBe('approval-request-ask-the-team');
    expect(headingAnchor('Refused control messages (SenderId)')).toBe('refused-control-messages-senderid');
  });
});
