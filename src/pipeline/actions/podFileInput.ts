import { z } from 'zod';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The input of an action on one file in a pod: where it is. Path rules beyond these are checked when the action runs. */
export const podFileInputShape = {
  namespace: z.string().max(63).regex(DNS_LABEL, 'a namespace name (RFC 1123 label)'),
  pod: z.string().max(253).regex(DNS_SUBDOMAIN, 'a pod name (RFC 1123 subdomain)'),
  /** The pod's only (or default) container when absent. */
  container: z.string().max(63).regex(DNS_LABEL, 'a container name (RFC 1123 label)').optional(),
  /** Absolute path inside the container. */
  path: z
    .string()
    .min(1)
    .max(4096)
    .refine((p) => p.startsWith('/'), 'an absolute path')
    .refine((p) => !p.includes('\0'), 'no NUL byte'),
};
