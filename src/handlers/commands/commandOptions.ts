import { z } from 'zod';
import { parseIpAddress } from '../../pipeline/net/ipAddress.js';

const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a Kubernetes namespace name');
const dnsName = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'a Kubernetes object name');

/** `/isolate`: exactly one of node or pod. */
export const isolateOptionsSchema = z
  .object({
    reason: z.string().trim().min(3, 'give a reason (3 characters or more)').max(500),
    node: z.string().trim().min(1).max(255).regex(/^[A-Za-z0-9_.:/-]+$/, 'a node name, DNS name, instance id or aws:/// provider id').optional(),
    pod: z
      .string()
      .trim()
      .transform((v, ctx) => {
        const [namespace, pod, ...rest] = v.split('/');
        const ns = dnsLabel.safeParse(namespace);
        const p = dnsName.safeParse(pod);
        if (rest.length || !ns.success || !p.success) {
          ctx.addIssue({ code: 'custom', message: 'pod must be namespace/pod, e.g. shop/api-5f7d9c8b7-qq2lm' });
          return z.NEVER;
        }
        return { namespace: ns.data, pod: p.data };
      })
      .optional(),
    release: z.boolean().default(false),
  })
  .refine((o) => Boolean(o.node) !== Boolean(o.pod), { message: 'give exactly one of node or pod' });

/** `/unblock`: every block of an ip (and port), or one block record by its id. */
export const unblockOptionsSchema = z
  .object({
    ip: z.string().trim().refine((v) => parseIpAddress(v) !== undefined, 'an IPv4 or IPv6 address').optional(),
    port: z.number().int().min(1).max(65535).optional(),
    /** One block by its id (`<ip>/<network ACL id>/<rule number>`, as reports and the expiry message show it). */
    block: z.string().trim().min(5).max(200).optional(),
  })
  .refine((o) => (o.ip === undefined) !== (o.block === undefined), { message: 'give either ip (and optionally port) or block' })
  .refine((o) => o.block === undefined || o.port === undefined, { message: 'port goes with ip, not with block', path: ['port'] });

export const evidenceCollectOptionsSchema = z.object({
  namespace: dnsLabel,
  pod: dnsName,
  path: z.string().min(2).max(4096).startsWith('/', 'an absolute path'),
  container: z.string().min(1).max(253).optional(),
});

export const evidenceShowOptionsSchema = z.object({
  incident: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'an incident id'),
});

/** The first problem of a failed parse, for an ephemeral reply. */
export function optionProblem(error: z.ZodError): string {
  const i = error.issues[0];
  return i ? `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}` : 'invalid options';
}
