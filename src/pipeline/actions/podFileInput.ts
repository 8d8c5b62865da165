import { z } from 'zod';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** At most this many candidate readings of one file path (an ambiguous event) are acted on. */
export const MAX_PATH_CANDIDATES = 16;

const absolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => p.startsWith('/'), 'an absolute path')
  .refine((p) => !p.includes('\0'), 'no NUL byte');

/**
 * The input of an action on a file in a pod: where it is. Either one `path`, or the
 * `candidates` an ambiguous event allows (every reading of its file path, which a person chose
 * to act on): each is then handled on its own. Path rules beyond these are checked when the
 * action runs.
 */
export const podFileInputShape = {
  namespace: z.string().max(63).regex(DNS_LABEL, 'a namespace name (RFC 1123 label)'),
  pod: z.string().max(253).regex(DNS_SUBDOMAIN, 'a pod name (RFC 1123 subdomain)'),
  /** The pod's only (or default) container when absent. */
  container: z.string().max(63).regex(DNS_LABEL, 'a container name (RFC 1123 label)').optional(),
  /** Absolute path inside the container. */
  path: absolutePath.optional(),
  /** Every reading of an ambiguous file path (instead of `path`). */
  candidates: z.array(absolutePath).min(1).max(MAX_PATH_CANDIDATES).optional(),
};

/** Exactly one of `path` and `candidates`. */
export function requireOnePath(input: { path?: string | undefined; candidates?: string[] | undefined }, ctx: z.RefinementCtx): void {
  if ((input.path === undefined) === (input.candidates === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['path'], message: input.path === undefined ? 'required (or candidates)' : 'give path or candidates, not both' });
  }
}
