// SMART on FHIR v2 system scopes: system/<Type|*>.<cruds>.
// See: https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html
// Pure.

export type Permission = 'c' | 'r' | 'u' | 'd' | 's';
const ORDER: readonly Permission[] = ['c', 'r', 'u', 'd', 's'];

export interface SystemScope {
  resourceType: string; // a FHIR type or '*'
  permissions: ReadonlySet<Permission>;
}

export type ScopeParse = { ok: true; scope: SystemScope } | { ok: false; reason: string };

const V1: Record<string, Permission[]> = { read: ['r', 's'], write: ['c', 'u', 'd'], '*': ['c', 'r', 'u', 'd', 's'] };

export function parseScope(text: string): ScopeParse {
  const m = /^system\/([A-Za-z]+|\*)\.([a-z*]+)$/.exec(text);
  if (m === null) {
    if (text.includes('?')) return { ok: false, reason: `scope "${text}": query parameters in scopes are not supported` };
    return { ok: false, reason: `scope "${text}" is not a system/<Type>.<cruds> scope` };
  }
  const [, resourceType = '', perms = ''] = m;
  const v1 = V1[perms];
  if (v1 !== undefined) return { ok: true, scope: { resourceType, permissions: new Set(v1) } };
  // v2: the letters must be a non-empty subsequence of "cruds", in that order.
  let at = 0;
  const found: Permission[] = [];
  for (const ch of perms) {
    const i = ORDER.indexOf(ch as Permission, at);
    if (i < 0) return { ok: false, reason: `scope "${text}": permissions must be letters of "cruds" in that order` };
    found.push(ORDER[i] as Permission);
    at = i + 1;
  }
  return { ok: true, scope: { resourceType, permissions: new Set(found) } };
}

export function formatScope(scope: SystemScope): string {
  return `system/${scope.resourceType}.${ORDER.filter((p) => scope.permissions.has(p)).join('')}`;
}

/**
 * Narrows each requested scope to what the registered scopes allow. A
 * requested wildcard type is granted only from registered wildcards.
 */
export function grantScopes(requested: readonly SystemScope[], registered: readonly SystemScope[]): SystemScope[] {
  const granted: SystemScope[] = [];
  for (const want of requested) {
    const allowed = new Set<Permission>();
    for (const have of registered) {
      if (have.resourceType !== '*' && have.resourceType !== want.resourceType) continue;
      for (const p of want.permissions) if (have.permissions.has(p)) allowed.add(p);
    }
    if (allowed.size > 0) granted.push({ resourceType: want.resourceType, permissions: allowed });
  }
  return granted;
}

/** Does any granted scope allow this permission on this resource type? */
export function allows(granted: readonly SystemScope[], resourceType: string, permission: Permission): boolean {
  return granted.some(
    (s) => (s.resourceType === '*' || s.resourceType === resourceType) && s.permissions.has(permission),
  );
}

export function parseScopeList(text: string): { ok: true; scopes: SystemScope[] } | { ok: false; reason: string } {
  const scopes: SystemScope[] = [];
  for (const part of text.split(' ').filter((s) => s.length > 0)) {
    const parsed = parseScope(part);
    if (!parsed.ok) return parsed;
    scopes.push(parsed.scope);
  }
  return { ok: true, scopes };
}
