import { type z } from 'zod';

/** zod issues as short `path: message` lines for error headers and logs. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.slice(0, 20).map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`);
}
