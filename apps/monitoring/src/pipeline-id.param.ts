import { BadRequestException } from '@nestjs/common';
import { PipelineId } from '@keel/contracts';

/** Validates a `:id` route parameter as a pipeline id; HTTP 400 naming the issue otherwise. */
export function parsePipelineIdParam(id: string): string {
  const parsed = PipelineId.safeParse(id);
  if (!parsed.success) {
    throw new BadRequestException({
      message: 'invalid pipeline id',
      issues: parsed.error.issues.map((issue) => `id: ${issue.message}`),
    });
  }
  return parsed.data;
}
