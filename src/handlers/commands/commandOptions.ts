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
    /** Terminate the pod instead of isolating it (terminate-pod). */
    terminate: z.boolean().default(false),
    force: z.boolean().optional(),
    grace: z.number().int().min(1).max(3600).optional(),
  })
  .refine((o) => Boolean(o.node) !== Boolean(o.pod), { message: 'give exactly one of node or pod' })
  .refine((o) => !o.terminate || Boolean(o.pod), { message: 'terminate goes with pod (a node is isolated or drained, not terminated)', path: ['terminate'] })
  .refine((o) => !(o.terminate && o.release), { message: 'give terminate or release, not both', path: ['terminate'] })
  .refine((o) => o.terminate || (o.force === undefined && o.grace === undefined), { message: 'force and grace go with terminate', path: ['terminate'] });

/** `/unblock`: every block of an ip (and port), or one block record by its id. */
export const unblockOptionsSchema = z
  .object({
    ip: z.string().trim().refine((v) => parseIpAddress(v) !== undefined, 'an IPv4 or IPv6 address').optional(),
    port: z.number().int().min(1).max(65535).optional(),
    /** One block by its id (`<ip>/<network ACL id>/<rule number>` or `<ip>/<cilium|calico>/<policy name>`, as reports and the expiry message show it). */
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

const ipOption = z.string().trim().refine((v) => parseIpAddress(v) !== undefined, 'an IPv4 or IPv6 address');
const containerName = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a container name');

/** `/evidence logs`: collect-pod-logs' input. */
export const evidenceLogsOptionsSchema = z
  .object({
    namespace: dnsLabel,
    pod: dnsName,
    container: containerName.optional(),
    previous: z.boolean().optional(),
    tail: z.number().int().min(1).max(1_000_000).optional(),
  })
  .transform((o) => ({
    namespace: o.namespace,
    pod: o.pod,
    ...(o.container ? { containers: [o.container] } : {}),
    ...(o.previous ? { previous: true } : {}),
    ...(o.tail !== undefined ? { tailLines: o.tail } : {}),
  }));

/** `/evidence capture`: capture-network's input (the filter from validated parts only). */
export const evidenceCaptureOptionsSchema = z
  .object({
    namespace: dnsLabel,
    pod: dnsName,
    seconds: z.number().int().min(1).max(300).optional(),
    packets: z.number().int().min(1).max(100_000).optional(),
    host: ipOption.optional(),
    port: z.number().int().min(1).max(65535).optional(),
  })
  .transform((o) => {
    const filter = { ...(o.host ? { hosts: [parseIpAddress(o.host)!.text] } : {}), ...(o.port !== undefined ? { ports: [o.port] } : {}) };
    return {
      namespace: o.namespace,
      pod: o.pod,
      ...(o.seconds !== undefined ? { seconds: o.seconds } : {}),
      ...(o.packets !== undefined ? { packets: o.packets } : {}),
      ...(Object.keys(filter).length ? { filter } : {}),
    };
  });

export const evidenceShowOptionsSchema = z.object({
  incident: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'an incident id'),
});

/** The first problem of a failed parse, for an ephemeral reply. */
export function optionProblem(error: z.ZodError): string {
  const i = error.issues[0];
  return i ? `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}` : 'invalid options';
}
