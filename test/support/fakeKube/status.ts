/** Builders for `meta/v1 Status` bodies, the shape the real API server answers errors with. */

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: { reason?: string; message?: string; field?: string }[];
}

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code?: number;
}

/** An error answered as a Status body with an HTTP status code. */
export class KubeError extends Error {
  readonly body: StatusBody;
  constructor(
    readonly code: number,
    reason: string,
    message: string,
    details?: StatusDetails,
  ) {
    super(message);
    this.body = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      ...(details ? { details } : {}),
      code,
    };
  }
}

/** A resource coordinate used in messages: `pods`, or `networkpolicies.networking.k8s.io`. */
export interface ResourceRef {
  resource: string;
  group?: string;
}

function qualified(ref: ResourceRef): string {
  return ref.group ? `${ref.resource}.${ref.group}` : ref.resource;
}

function details(ref: ResourceRef, name: string): StatusDetails {
  return { name, ...(ref.group ? { group: ref.group } : {}), kind: ref.resource };
}

export function notFound(ref: ResourceRef, name: string): KubeError {
  return new KubeError(404, 'NotFound', `${qualified(ref)} "${name}" not found`, details(ref, name));
}

export function alreadyExists(ref: ResourceRef, name: string): KubeError {
  return new KubeError(409, 'AlreadyExists', `${qualified(ref)} "${name}" already exists`, details(ref, name));
}

export function conflict(ref: ResourceRef, name: string): KubeError {
  return new KubeError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(ref)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    details(ref, name),
  );
}

export function badRequest(message: string): KubeError {
  return new KubeError(400, 'BadRequest', message);
}

/** 422 Invalid: `<Kind> "<name>" is invalid: <field>: <problem>`. */
export function invalid(kind: string, name: string, causes: { field: string; message: string; reason?: string }[], group?: string): KubeError {
  const kindLabel = group ? `${kind}.${group}` : kind;
  const summary = causes.map((c) => `${c.field}: ${c.message}`).join(', ');
  return new KubeError(422, 'Invalid', `${kindLabel} "${name}" is invalid: ${summary}`, {
    name,
    ...(group ? { group } : {}),
    kind,
    causes: causes.map((c) => ({ reason: c.reason ?? 'FieldValueInvalid', message: c.message, field: c.field })),
  });
}

export function unauthorized(): KubeError {
  return new KubeError(401, 'Unauthorized', 'Unauthorized');
}

export function pathNotFound(): KubeError {
  return new KubeError(404, 'NotFound', 'the server could not find the requested resource', {});
}

export function methodNotAllowed(): KubeError {
  return new KubeError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
}

export function unsupportedMediaType(contentType: string, accepted: string[]): KubeError {
  return new KubeError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
    { causes: [{ reason: 'UnsupportedMediaType', message: contentType }] },
  );
}

export function successStatus(ref: ResourceRef, name: string, uid: string): StatusBody {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { ...details(ref, name), uid },
  };
}
