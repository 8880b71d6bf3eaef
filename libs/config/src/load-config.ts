import { z } from 'zod';

/** Thrown at start-up when the environment does not satisfy an app's schema; the message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly issues: readonly { variable: string; problem: string }[]) {
    super(`Invalid environment configuration:\n${issues.map((i) => `  - ${i.variable}: ${i.problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses `env` (by default `process.env`) with a zod object schema whose keys are environment variable names.
 * This is the one place apps read the environment, so a typo or a missing variable fails fast at start-up.
 */
export function loadConfig<Shape extends z.ZodRawShape>(
  schema: z.ZodObject<Shape>,
  env: Record<string, string | undefined> = process.env,
): z.infer<z.ZodObject<Shape>> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => ({
      variable: issue.path.map(String).join('.') || '(root)',
      problem: env[String(issue.path[0])] === undefined ? `is required (${issue.message})` : issue.message,
    })),
  );
}

/** Environment booleans: accepts true/false/1/0/yes/no. */
export const envBoolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

/** A TCP port number given as a string; 0 asks the OS for a free port (tests). */
export const envPort = z.coerce.number().int().min(0).max(65_535);

/** A comma-separated list, trimmed, empty items dropped. */
export const envList = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0),
);
