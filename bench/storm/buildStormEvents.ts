/**
 * The storm: `total` Falco events made of `distinct` incidents seen once and `repeated` incidents
 * seen many times (the rest of `total`, spread evenly), on mixed routes, shuffled with a fixed seed
 * so every run sends the same storm in the same order.
 *
 * Routes, as the stock playbook config sends them:
 * - record (the default route: rules no playbook rule names): Falco JSON output, four rules, pods
 *   across the namespace, each incident its own command line;
 * - approval (ARTIFACT_EXEC, Fluent Bit text lines): the playbook asks a responder before isolating
 *   the node;
 * - block-egress (the reverse-shell line): a NACL deny rule for the attacker's address;
 * - file-artifact (ARTIFACT_WRITE): the file is extracted from the pod and quarantined.
 */
import { fluentBitLine, kv, reverseShellLine } from '../../test/helpers/events.js';

export type StormRoute = 'record' | 'approval' | 'block-egress' | 'file-artifact';

export interface StormOptions {
  total: number;
  distinct: number;
  repeated: number;
  /** The node every event names (the fake Kubernetes node backed by a moto instance). */
  node: string;
  namespace: string;
  /** The pod the reverse shells and file artifacts are in. */
  pod: string;
  container: string;
  /** The event time of every event (repeats of one incident must share it to stay one incident). */
  time: Date;
  seed?: number;
}

export interface StormPlan {
  events: unknown[];
  /** Incidents by route: how many are distinct, how many repeated. */
  routes: Record<StormRoute, { distinct: number; repeated: number }>;
  /** The files file-artifact events name: the pod must hold them. */
  files: string[];
  /** How many events each repeated incident has. */
  repeatsEach: number;
}

/** Shares of each route among distinct and among repeated incidents (the rest is record). */
const DISTINCT_SHARE: Readonly<Record<Exclude<StormRoute, 'record'>, number>> = { approval: 0.04, 'block-egress': 0.04, 'file-artifact': 0.04 };
const REPEATED_SHARE: Readonly<Record<Exclude<StormRoute, 'record'>, number>> = { approval: 0.08, 'block-egress': 0.08, 'file-artifact': 0.04 };
const RECORD_RULES = ['Storm: shell config read', 'Storm: package manager in container', 'Storm: unexpected outbound DNS', 'Storm: crontab written'];
const PODS = 25;

/** mulberry32: a small seeded PRNG (the storm must be the same every run). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The time as Falco writes it in a text line: nanoseconds and +0000. */
function falcoTextTime(t: Date): string {
  return `${t.toISOString().slice(0, 23)}000000+0000`;
}

function split(count: number, share: Readonly<Record<Exclude<StormRoute, 'record'>, number>>): Record<StormRoute, number> {
  const approval = Math.round(count * share.approval);
  const egress = Math.round(count * share['block-egress']);
  const file = Math.round(count * share['file-artifact']);
  return { approval, 'block-egress': egress, 'file-artifact': file, record: Math.max(0, count - approval - egress - file) };
}

export function buildStormEvents(o: StormOptions): StormPlan {
  if (o.distinct + o.repeated > o.total) throw new Error('--distinct plus --repeated is more than --events');
  if (o.repeated === 0 && o.distinct !== o.total) throw new Error('with no repeated incidents, --distinct must equal --events');
  const rand = random(o.seed ?? 15);
  const textTime = falcoTextTime(o.time);
  const files: string[] = [];
  let serial = 0;

  const make = (route: StormRoute, kind: 'd' | 'r'): unknown => {
    const n = serial++;
    const tag = `${kind}${n}`;
    switch (route) {
      case 'record': {
        const rule = RECORD_RULES[n % RECORD_RULES.length]!;
        const pod = `storm-${n % PODS}`;
        return {
          hostname: o.node,
          output: `${o.time.toISOString().slice(11, 23)}000000: Warning ${rule} (user=www-data command=probe --seq ${tag} pod=${pod} ns=${o.namespace})`,
          output_fields: { 'k8s.pod.name': pod, 'k8s.ns.name': o.namespace, 'container.name': o.container, 'proc.cmdline': `probe --seq ${tag}`, 'user.name': 'www-data' },
          priority: 'Warning',
          rule,
          source: 'syscall',
          tags: ['storm'],
          time: o.time.toISOString(),
        };
      }
      case 'approval':
        return fluentBitLine(
          `ARTIFACT_EXEC ${kv({ reason: 'exec_from_upload_dir', exepath: '/var/www/html/uploads/x', cmdline: `x -c id # storm-${tag}`, container: o.container, container_id: '3f2a9c1b7d4e', pod: `web-storm-${tag}`, ns: o.namespace, node: o.node, user: 'www-data' })}`,
          { host: o.node, time: textTime },
        );
      case 'block-egress': {
        const ip = `${n % 2 ? '198.51.100' : '203.0.113'}.${1 + (n % 250)}`;
        return fluentBitLine(reverseShellLine({ ip, port: 4000 + (n % 1000), pod: o.pod, ns: o.namespace }), { host: o.node, time: textTime });
      }
      case 'file-artifact': {
        const path = `/var/www/html/uploads/storm-${tag}.php`;
        files.push(path);
        return fluentBitLine(
          `ARTIFACT_WRITE ${kv({ reason: 'upload_write', artifact_path: path, proc: 'apache2', cmdline: 'apache2 -DFOREGROUND', user: 'www-data', container: o.container, container_id: '3f2a9c1b7d4e', pod: o.pod, ns: o.namespace, node: o.node })}`,
          { host: o.node, time: textTime },
        );
      }
    }
  };

  const distinct = split(o.distinct, DISTINCT_SHARE);
  const repeated = split(o.repeated, REPEATED_SHARE);
  const events: unknown[] = [];
  for (const route of Object.keys(distinct) as StormRoute[]) for (let i = 0; i < distinct[route]; i += 1) events.push(make(route, 'd'));
  const repeatEvents = o.total - o.distinct;
  const repeatsEach = o.repeated ? Math.floor(repeatEvents / o.repeated) : 0;
  let extra = o.repeated ? repeatEvents - repeatsEach * o.repeated : 0;
  for (const route of Object.keys(repeated) as StormRoute[]) {
    for (let i = 0; i < repeated[route]; i += 1) {
      const e = make(route, 'r');
      const times = repeatsEach + (extra > 0 ? 1 : 0);
      if (extra > 0) extra -= 1;
      for (let k = 0; k < times; k += 1) events.push(e);
    }
  }
  // Fisher–Yates with the seeded generator: repeats interleaved with everything else.
  for (let i = events.length - 1; i > 0; i -= 1) {
    const j = Math.floor(rand() * (i + 1));
    [events[i], events[j]] = [events[j], events[i]];
  }
  const routes = Object.fromEntries((Object.keys(distinct) as StormRoute[]).map((r) => [r, { distinct: distinct[r], repeated: repeated[r] }])) as StormPlan['routes'];
  return { events, routes, files, repeatsEach };
}
