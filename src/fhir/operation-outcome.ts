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

export const DENY_REASON_SYSTEM = 'https://eastside.example/fhir/CodeSystem/deny-reason';

/** A refused disclosure: the reason code (e.g. consent-withdrawn) in details, for the requester to act on. */
export function denialProblem(status: number, diagnostics: string, reason: string, detail: string): Problem {
  return {
    status,
    outcome: {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: status === 404 ? 'not-found' : 'forbidden',
          details: { coding: [{ system: DENY_REASON_SYSTEM, code: reason }], text: detail },
          diagnostics: `${diagnostics}: ${reason}`,
        },
      ],
    },
  };
}
