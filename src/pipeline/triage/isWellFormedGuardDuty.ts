/**
 * Fast structural checks for well-formed GuardDuty findings, beside triageGuardDuty's zod schemas
 * (findingSchema, eventSchema). Each accepts only what its schema accepts and would give back
 * unchanged (the schema copies every object of a finding, unknown keys included, and that copy is
 * most of the cost of triaging one): for such input the finding can be read as it is. Anything
 * else (a numeric string severity, which the schema turns into a number; any doubt) goes through
 * the schema, which also words the error. A property test holds these to the schemas.
 */

type Obj = Record<string, unknown>;

const isObject = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
const nullish = (x: unknown): x is null | undefined => x === undefined || x === null;
const optString = (x: unknown) => nullish(x) || typeof x === 'string';
const optNumber = (x: unknown) => nullish(x) || (typeof x === 'number' && Number.isFinite(x));
const nonEmptyString = (x: unknown) => typeof x === 'string' && x.length > 0;
/** `z.object({...}).loose().nullish()`: absent, null, or an object whose listed members pass. */
const optObject = (x: unknown, check: (o: Obj) => boolean) => nullish(x) || (isObject(x) && check(x));
/** Absent, null, or an array each of whose elements passes (a hole counts as undefined, as the schema reads it). */
function optArray(x: unknown, check: (e: unknown) => boolean): boolean {
  if (nullish(x)) return true;
  if (!Array.isArray(x)) return false;
  for (let i = 0; i < x.length; i++) if (!check(x[i])) return false;
  return true;
}

const remoteIp = (o: Obj) => optString(o.ipAddressV4) && optString(o.ipAddressV6);
const container = (o: Obj) => optString(o.name) && optString(o.image) && optString(o.id);

function processDetails(o: Obj): boolean {
  return (
    optString(o.name) &&
    optString(o.executablePath) &&
    optString(o.executableSha256) &&
    (optNumber(o.pid) || typeof o.pid === 'string') &&
    optString(o.user) &&
    optArray(o.lineage, (e) => isObject(e) && optString(e.executablePath) && optString(e.name))
  );
}

function resource(o: Obj): boolean {
  return (
    nonEmptyString(o.resourceType) &&
    optObject(o.instanceDetails, (d) => optString(d.instanceId) && optArray(d.networkInterfaces, (n) => isObject(n) && optString(n.privateDnsName))) &&
    optObject(
      o.kubernetesDetails,
      (k) =>
        optObject(k.kubernetesWorkloadDetails, (w) => optString(w.name) && optString(w.namespace) && optString(w.type) && optArray(w.containers, (c) => isObject(c) && container(c))) &&
        optObject(k.kubernetesUserDetails, (u) => optString(u.username)),
    ) &&
    optObject(o.eksClusterDetails, (e) => optString(e.name) && optString(e.arn)) &&
    optObject(o.containerDetails, container)
  );
}

function action(a: Obj): boolean {
  return (
    optObject(
      a.networkConnectionAction,
      (n) => optString(n.connectionDirection) && optObject(n.remoteIpDetails, remoteIp) && optObject(n.remotePortDetails, (p) => optNumber(p.port)),
    ) &&
    optObject(a.awsApiCallAction, (c) => optObject(c.remoteIpDetails, remoteIp)) &&
    optObject(
      a.kubernetesApiCallAction,
      (c) => optObject(c.remoteIpDetails, remoteIp) && optString(c.verb) && optString(c.requestUri) && optArray(c.sourceIps, (s) => typeof s === 'string'),
    ) &&
    optObject(a.portProbeAction, (p) => optArray(p.portProbeDetails, (d) => isObject(d) && optObject(d.remoteIpDetails, remoteIp)))
  );
}

function service(s: Obj): boolean {
  return (
    optNumber(s.count) &&
    optString(s.featureName) &&
    optObject(s.runtimeDetails, (r) => optObject(r.process, processDetails) && optObject(r.context, (c) => optString(c.commandLineExample))) &&
    optObject(s.action, action)
  );
}

/** A finding (EventBridge's `detail`, or a bare one) that findingSchema accepts and returns unchanged. */
export function isWellFormedGuardDutyFinding(v: unknown): boolean {
  if (!isObject(v)) return false;
  const severity = v.severity;
  return (
    nonEmptyString(v.id) &&
    nonEmptyString(v.type) &&
    typeof severity === 'number' &&
    severity >= 0 &&
    severity <= 10 &&
    optString(v.accountId) &&
    optString(v.region) &&
    optString(v.title) &&
    optString(v.updatedAt) &&
    optString(v.createdAt) &&
    isObject(v.resource) &&
    resource(v.resource) &&
    optObject(v.service, service)
  );
}

/** An EventBridge GuardDuty event that eventSchema accepts and returns unchanged. */
export function isWellFormedGuardDutyEvent(v: unknown): boolean {
  return isObject(v) && v['detail-type'] === 'GuardDuty Finding' && optString(v.time) && isWellFormedGuardDutyFinding(v.detail);
}
