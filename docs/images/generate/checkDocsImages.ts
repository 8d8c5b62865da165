/**
 * Whether the pictures in docs/images are current, without a browser: each sample's payload (as
 * the renderers make it now) must equal the one its sidecar says the picture was made from, the
 * page built from it must hash the same, and the PNG must be the one the sidecar describes.
 * Returns one line per problem, each saying how to fix it; none when everything is current.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { buildDocsSamples, type DocsSample } from './buildDocsSamples.js';
import { pngSize, sha256, sidecarSchema, storedPayload } from './buildDocsImageSidecar.js';
import { renderMessagePage } from './renderMessagePage.js';

export const REGENERATE = 'run `npm run docs:images` (needs Chromium: see docs/messages.md)';

/** The JSON path of the first difference between two JSON values (`$` when the roots differ). */
export function firstDifference(a: unknown, b: unknown, path = '$'): string | undefined {
  if (isDeepStrictEqual(a, b)) return undefined;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return path;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  for (const key of keys) {
    const at = Array.isArray(a) ? `${path}[${key}]` : `${path}.${key}`;
    const found = firstDifference((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], at);
    if (found) return found;
  }
  return path;
}

function checkSample(dir: string, sample: DocsSample): string[] {
  const where = (file: string) => `docs/images/${file}`;
  const json = `${sample.name}.json`;
  const png = `${sample.name}.png`;
  if (!existsSync(join(dir, json))) return [`${where(json)} is missing`];
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(join(dir, json), 'utf8'));
  } catch (err) {
    return [`${where(json)} is not JSON: ${(err as Error).message}`];
  }
  const sidecar = sidecarSchema.safeParse(parsed);
  if (!sidecar.success) return [`${where(json)} is not a sidecar: ${sidecar.error.issues.map((i) => `${i.path.join('.') || '$'}: ${i.message}`).join('; ')}`];
  const s = sidecar.data;
  const problems: string[] = [];
  const payload = storedPayload(sample);
  const diff = firstDifference(s.payload, payload);
  if (diff) problems.push(`${where(png)} shows an old payload: the renderers now send something else (first difference at ${diff.replace(/^\$/, 'payload')})`);
  if (!isDeepStrictEqual(s.view, sample.view) || s.alt !== sample.alt || s.event !== sample.event || s.image !== png) {
    problems.push(`${where(json)} describes another sample (view, alt text, event or image name changed)`);
  }
  if (!diff && s.pageSha256 !== sha256(renderMessagePage(sample.payload, sample.view))) {
    problems.push(`${where(png)} was taken of an older page: renderMessagePage or its styles changed`);
  }
  if (!existsSync(join(dir, png))) {
    problems.push(`${where(png)} is missing`);
  } else {
    const bytes = readFileSync(join(dir, png));
    const size = pngSize(bytes);
    if (!size) problems.push(`${where(png)} is not a PNG`);
    else if (sha256(bytes) !== s.png.sha256 || size.width !== s.png.width || size.height !== s.png.height || bytes.length !== s.png.bytes) {
      problems.push(`${where(png)} is not the picture ${where(json)} describes (replaced or edited by hand)`);
    }
  }
  return problems;
}

export function checkDocsImages(dir: string, samples: readonly DocsSample[] = buildDocsSamples()): string[] {
  const problems = samples.flatMap((sample) => checkSample(dir, sample));
  const expected = new Set(samples.flatMap((s) => [`${s.name}.png`, `${s.name}.json`]));
  const present = existsSync(dir) ? readdirSync(dir).filter((f) => /\.(png|json)$/.test(f)) : [];
  for (const file of present.sort()) if (!expected.has(file)) problems.push(`docs/images/${file} belongs to no sample (left over from an older set)`);
  return problems.map((p) => `${p}; ${REGENERATE}`);
}
