import { describe, expect, it } from 'vitest';
import { allows, formatScope, grantScopes, parseScope, parseScopeList, type SystemScope } from '../../src/auth/scopes.js';

const scopes = (text: string): SystemScope[] => {
  const parsed = parseScopeList(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.scopes;
};

describe('SMART system scopes', () => {
  it.each([
    ['system/Patient.rs', 'system/Patient.rs'],
    ['system/*.cruds', 'system/*.cruds'],
    ['system/Consent.c', 'system/Consent.c'],
    ['system/Patient.read', 'system/Patient.rs'],
    ['system/Patient.write', 'system/Patient.cud'],
    ['system/*.*', 'system/*.cruds'],
  ])('parses %s as %s', (text, formatted) => {
    const parsed = parseScope(text);
    expect(parsed.ok && formatScope(parsed.scope)).toBe(formatted);
  });

  it.each(['patient/Patient.rs', 'system/Patient.sr', 'system/Patient.x', 'system/Patient', 'system/Patient.rs?category=x', 'system/.rs', ''])(
    'refuses %j',
    (text) => {
      expect(parseScope(text).ok).toBe(false);
    },
  );

  it.each([
    ['system/Patient.rs', 'system/*.rs', 'system/Patient.rs'],
    ['system/Patient.cruds', 'system/*.rs', 'system/Patient.rs'],
    ['system/*.rs', 'system/Patient.rs', ''],
    ['system/*.rs', 'system/*.rs system/Task.u', 'system/*.rs'],
    ['system/Task.u system/Patient.c', 'system/*.rs system/Task.u', 'system/Task.u'],
    ['system/Consent.cruds', 'system/*.c system/Consent.cruds', 'system/Consent.cruds'],
    ['system/Immunization.cr', 'system/Immunization.c system/*.rs', 'system/Immunization.cr'],
  ])('grants %s from registered %s as %j', (requested, registered, granted) => {
    expect(grantScopes(scopes(requested), scopes(registered)).map(formatScope).join(' ')).toBe(granted);
  });

  it('allows an interaction only with a matching type and permission', () => {
    const granted = scopes('system/*.rs system/Task.u');
    expect(allows(granted, 'Patient', 'r')).toBe(true);
    expect(allows(granted, 'Patient', 's')).toBe(true);
    expect(allows(granted, 'Patient', 'u')).toBe(false);
    expect(allows(granted, 'Task', 'u')).toBe(true);
    expect(allows(granted, 'Task', 'c')).toBe(false);
    expect(allows([], 'Patient', 'r')).toBe(false);
  });
});
