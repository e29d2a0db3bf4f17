import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4.js';

// The one error vocabulary of the hub. See: https://hl7.org/fhir/R4/operationoutcome.html

export type IssueCode = OperationOutcomeIssue['code'];

export interface Problem {
  status: number;
  outcome: OperationOutcome;
}

export interface IssueInput {
  code: IssueCode;
  diagnostics: string;
  /** FHIRPath of the fault, or the name of the offending parameter/header. */
  expression?: string | readonly string[] | undefined;
  severity?: OperationOutcomeIssue['severity'];
}

export function outcome(issues: readonly IssueInput[]): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((i) => ({
      severity: i.severity ?? 'error',
      code: i.code,
      diagnostics: i.diagnostics,
      ...(i.expression === undefined ? {} : { expression: typeof i.expression === 'string' ? [i.expression] : [...i.expression] }),
    })),
  };
}

export function problem(status: number, code: IssueCode, diagnostics: string, expression?: string | readonly string[]): Problem {
  return { status, outcome: outcome([{ code, diagnostics, expression }]) };
}

export function problems(status: number, issues: readonly IssueInput[]): Problem {
  return { status, outcome: outcome(issues) };
}

export function information(diagnostics: string): OperationOutcome {
  return outcome([{ severity: 'information', code: 'informational', diagnostics }]);
}

/** Deny reasons, as the IG lead's $explain-disclosure names them (never told to the requester). */
export const DENY_REASON_SYSTEM = 'https://eastside.example/fhir/CodeSystem/deny-reason';
