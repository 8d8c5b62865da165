import { parseIpAddress } from '../net/ipAddress.js';

/**
 * Value types for fields read out of Falco's output text. A `text` value may
 * contain spaces, and so may a `path` (an absolute file path: it starts with
 * `/`); every other type is one token and is checked strictly, which is what
 * lets the template parser tell real fields from injected ones.
 */
export const FIELD_TYPES = ['text', 'path', 'token', 'ip', 'port', 'k8sName', 'hostname', 'hex'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const HOSTNAME = /^[A-Za-z0-9]([-A-Za-z0-9.]{0,251}[A-Za-z0-9])?$/;
const HEX = /^[0-9a-f]{1,64}$/i;
const TOKEN = /^\S+$/u;

export function isValidFieldValue(type: FieldType, value: string): boolean {
  switch (type) {
    case 'text':
      return true;
    case 'path':
      // Only the first character: which readings fit must not depend on where a value ends.
      return value.startsWith('/');
    case 'token':
      return TOKEN.test(value);
    case 'ip':
      return parseIpAddress(value) !== undefined;
    case 'port':
      return /^\d{1,5}$/.test(value) && Number(value) >= 1 && Number(value) <= 65535;
    case 'k8sName':
      return K8S_NAME.test(value);
    case 'hostname':
      return HOSTNAME.test(value);
    case 'hex':
      return HEX.test(value);
  }
}

/** True for types whose values never contain whitespace. */
export function isTokenType(type: FieldType): boolean {
  return type !== 'text' && type !== 'path';
}

/** Canonical field names and the types their values must have. Unknown names are `text`. */
export const CANONICAL_FIELD_TYPES: Readonly<Record<string, FieldType>> = {
  node: 'hostname',
  ns: 'k8sName',
  pod: 'k8sName',
  container: 'token',
  container_id: 'hex',
  user: 'token',
  proc: 'token',
  parent: 'token',
  reason: 'token',
  attacker_ip: 'ip',
  attacker_port: 'port',
  local_port: 'port',
  rip: 'ip',
  rport: 'port',
  sip: 'ip',
  tty: 'token',
  artifact_path: 'path',
  src: 'path',
  dst: 'path',
  cmdline: 'text',
  exepath: 'text',
  connection: 'text',
};

/** Aliases used by rules' key=value output, mapped to canonical names. */
export const FIELD_ALIASES: Readonly<Record<string, string>> = {
  ns: 'ns',
  k8s_ns_name: 'ns',
  k8s_ns: 'ns',
  'k8s.ns.name': 'ns',
  pod: 'pod',
  k8s_pod_name: 'pod',
  k8s_pod: 'pod',
  'k8s.pod.name': 'pod',
  container: 'container',
  container_name: 'container',
  'container.name': 'container',
  container_id: 'container_id',
  'container.id': 'container_id',
  node: 'node',
  user: 'user',
  'user.name': 'user',
  proc: 'proc',
  process: 'proc',
  'proc.name': 'proc',
  parent: 'parent',
  'proc.pname': 'parent',
  cmdline: 'cmdline',
  command: 'cmdline',
  'proc.cmdline': 'cmdline',
  exepath: 'exepath',
  proc_exepath: 'exepath',
  'proc.exepath': 'exepath',
  artifact_path: 'artifact_path',
  src: 'src',
  dst: 'dst',
  reason: 'reason',
  'fd.rip': 'rip',
  rip: 'rip',
  'fd.rport': 'rport',
  rport: 'rport',
  'fd.sip': 'sip',
  'fd.lport': 'local_port',
  'fd.name': 'connection',
  connection: 'connection',
  tty: 'tty',
  'proc.tty': 'tty',
};

export function canonicalFieldName(key: string): string {
  return FIELD_ALIASES[key] ?? key;
}

export function fieldTypeOf(name: string): FieldType {
  return CANONICAL_FIELD_TYPES[name] ?? 'text';
}
