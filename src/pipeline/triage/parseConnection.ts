import { canonicalIp } from '../net/ipAddress.js';

export interface Endpoint {
  ip: string;
  port: number;
}

function parseEndpoint(s: string): Endpoint | undefined {
  const m = /^\[?([0-9A-Fa-f:.]+?)\]?:(\d{1,5})$/.exec(s.trim());
  if (!m) return undefined;
  const port = Number(m[2]);
  const ip = canonicalIp(m[1]!);
  if (!ip || port < 1 || port > 65535) return undefined;
  return { ip, port };
}

/** Parses Falco's `fd.name` for a connection, `a:p->b:q`, into its local and remote ends (IPv4 or IPv6). */
export function parseConnection(value: string): { local: Endpoint; remote: Endpoint } | undefined {
  const parts = value.trim().split('->');
  if (parts.length !== 2) return undefined;
  const local = parseEndpoint(parts[0]!);
  const remote = parseEndpoint(parts[1]!);
  return local && remote ? { local, remote } : undefined;
}
