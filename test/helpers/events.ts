import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The sample events: a copy of ../shared/fixtures/events kept in the repository, by file name. */
export const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/events/', import.meta.url));
/** Where the team's shared samples live, beside the repository (absent in some checkouts). */
export const SHARED_FIXTURES_DIR = fileURLToPath(new URL('../../../shared/fixtures/events/', import.meta.url));

export function fixtureNames(): string[] {
  return readdirSync(FIXTURES_DIR).filter((f) => f.endsWith('.json')).sort();
}

export function loadFixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, name), 'utf8')) as Record<string, unknown>;
}

const TIME = '2026-11-20T03:14:07.123456789+0000';
const NODE = 'ip-10-0-12-34.ap-northeast-2.compute.internal';

/** A Fluent Bit record wrapping a Falco text line: `<time>: <Priority> <output>`. */
export function fluentBitLine(output: string, opts: { priority?: string; host?: string | null; raw?: boolean; time?: string } = {}) {
  const log = `${opts.time ?? TIME}: ${opts.priority ?? 'Warning'} ${output}`;
  const kubernetes = opts.host === null ? undefined : { pod_name: 'falco-x7k2p', namespace_name: 'falco', host: opts.host ?? NODE, container_name: 'falco' };
  const inner = opts.raw ? { raw_message: { log, stream: 'stdout' } } : { log, stream: 'stdout' };
  return { falco: { ...inner, ...(kubernetes ? { kubernetes } : {}) } };
}

/** The key=value tail the project rules write after their tag. */
export function kv(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/** Falco JSON output (as Falco or Falcosidekick send it). */
export function falcoJson(opts: {
  rule: string;
  output: string;
  priority?: string;
  fields?: Record<string, unknown>;
  hostname?: string;
  tags?: string[];
  uuid?: string;
  time?: string;
}) {
  return {
    hostname: opts.hostname ?? NODE,
    output: `03:14:07.123456789: ${opts.priority ?? 'Critical'} ${opts.output}`,
    output_fields: opts.fields ?? {},
    priority: opts.priority ?? 'Critical',
    rule: opts.rule,
    source: 'syscall',
    tags: opts.tags ?? [],
    time: opts.time ?? '2026-11-20T03:14:07.123456789Z',
    ...(opts.uuid ? { uuid: opts.uuid } : {}),
  };
}

/** A reverse-shell text line the way the project's rule writes it. */
export function reverseShellLine(opts: { ip?: string; port?: number; lport?: number; command?: string; ns?: string; pod?: string } = {}) {
  const ip = opts.ip ?? '203.0.113.45';
  const port = opts.port ?? 4444;
  const lport = opts.lport ?? 48122;
  const remote = ip.includes(':') ? `[${ip}]` : ip;
  return (
    `ARTIFACT_Reverse_Shell_Suspected! Attacker_IP: ${ip} Attacker_Port: ${port} Local_Port: ${lport} User: www-data ` +
    `Command: ${opts.command ?? 'bash -i'} Full_Connection: 10.0.12.34:${lport}->${remote}:${port} proc=php parent=apache2 ` +
    `pod=${opts.pod ?? 'dvwa-6d8f7c9b4-x2x9k'} ns=${opts.ns ?? 'dvwa'} container=dvwa container_id=3f2a9c1b7d4e`
  );
}

/** A GuardDuty finding as EventBridge delivers it. */
export function guardDutyEvent(opts: {
  id?: string;
  type?: string;
  severity?: unknown;
  resourceType?: string;
  instanceId?: string;
  remoteIp?: string;
  remotePort?: number;
  count?: number;
  updatedAt?: string;
} = {}) {
  const resourceType = opts.resourceType ?? 'Instance';
  return {
    version: '0',
    id: '7bf73129-1428-4cd3-a780-95db273d1602',
    'detail-type': 'GuardDuty Finding',
    source: 'aws.guardduty',
    account: '111122223333',
    time: '2026-11-20T03:19:02Z',
    region: 'ap-northeast-2',
    resources: [],
    detail: {
      schemaVersion: '2.0',
      accountId: '111122223333',
      region: 'ap-northeast-2',
      id: opts.id ?? 'b6c9f1a2d3e4f5a6b7c8d9e0f1a2b3c4',
      type: opts.type ?? 'Execution:Runtime/ReverseShell',
      resource:
        resourceType === 'Instance'
          ? {
              resourceType,
              instanceDetails: {
                instanceId: opts.instanceId ?? 'i-0a1b2c3d4e5f60718',
                networkInterfaces: [{ privateDnsName: NODE, privateIpAddress: '10.0.12.34', subnetId: 'subnet-0a1b2c3d', vpcId: 'vpc-0f1e2d3c' }],
              },
            }
          : { resourceType },
      service: {
        serviceName: 'guardduty',
        count: opts.count ?? 1,
        ...(opts.remoteIp
          ? {
              action: {
                actionType: 'NETWORK_CONNECTION',
                networkConnectionAction: {
                  connectionDirection: 'OUTBOUND',
                  remoteIpDetails: opts.remoteIp.includes(':') ? { ipAddressV6: opts.remoteIp } : { ipAddressV4: opts.remoteIp },
                  ...(opts.remotePort ? { remotePortDetails: { port: opts.remotePort } } : {}),
                },
              },
            }
          : {}),
      },
      severity: opts.severity ?? 8,
      createdAt: '2026-11-20T03:19:00.000Z',
      updatedAt: opts.updatedAt ?? '2026-11-20T03:19:00.000Z',
      title: 'A finding',
    },
  };
}
