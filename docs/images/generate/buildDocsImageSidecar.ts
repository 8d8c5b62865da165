/**
 * The JSON written beside each picture (`docs/images/<name>.json`): the exact payload and view the
 * page was made from, the page's hash and the PNG's hash. With it a check can tell, without a
 * browser, whether a picture still shows what the current renderers send.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { DocsSample } from './buildDocsSamples.js';

export const DOCS_IMAGES_DIR = new URL('../', import.meta.url);

export const sidecarSchema = z.strictObject({
  $comment: z.string(),
  image: z.string().regex(/^[a-z0-9-]+\.png$/),
  alt: z.string().min(1),
  event: z.string().min(1),
  view: z.strictObject({ now: z.iso.datetime(), users: z.record(z.string(), z.string()) }),
  payload: z.record(z.string(), z.unknown()),
  pageSha256: z.string().regex(/^[0-9a-f]{64}$/),
  png: z.strictObject({ sha256: z.string().regex(/^[0-9a-f]{64}$/), width: z.number().int().positive(), height: z.number().int().positive(), bytes: z.number().int().positive() }),
});

export type DocsImageSidecar = z.output<typeof sidecarSchema>;

export const SIDECAR_COMMENT = 'Written by `npm run docs:images` (docs/images/generate). The payload is what the bot sends; test/docs/docsImages.test.ts checks it against the current renderers.';

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Width and height from a PNG's IHDR chunk; undefined when the bytes are not a PNG. */
export function pngSize(png: Uint8Array): { width: number; height: number } | undefined {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.length < 24 || signature.some((b, i) => png[i] !== b)) return undefined;
  if (Buffer.from(png.subarray(12, 16)).toString('latin1') !== 'IHDR') return undefined;
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** The payload as it is stored in JSON (what a JSON round trip leaves of it). */
export function storedPayload(sample: DocsSample): Record<string, unknown> {
  return JSON.parse(JSON.stringify(sample.payload)) as Record<string, unknown>;
}

export function buildDocsImageSidecar(sample: DocsSample, page: string, png: Uint8Array): DocsImageSidecar {
  const size = pngSize(png);
  if (!size) throw new Error(`the screenshot of ${sample.name} is not a PNG`);
  return {
    $comment: SIDECAR_COMMENT,
    image: `${sample.name}.png`,
    alt: sample.alt,
    event: sample.event,
    view: sample.view,
    payload: storedPayload(sample),
    pageSha256: sha256(page),
    png: { sha256: sha256(png), ...size, bytes: png.length },
  };
}
