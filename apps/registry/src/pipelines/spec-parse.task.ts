import { type PipelineSpec } from '@keel/contracts';
import { InvalidPipelineSpecError } from '@keel/pipelines';
import { defineWorkerTask } from '@keel/workers';
import { checkedSpecDocument } from './spec-names';

/** A spec parsed, or the issues that refuse it (plain data: it crosses the thread boundary). */
export type ParsedSpecOutcome = { ok: true; spec: PipelineSpec } | { ok: false; issues: readonly string[] };

/**
 * Parses and validates spec text (YAML or JSON) on a worker thread: YAML costs about 1 ms per KiB, so a spec body at
 * its 1 MiB limit would hold the registry's event loop for most of a second. Only the validated spec comes back
 * (checkedSpecDocument: with the keys and column names reading it cannot show refused as well).
 */
export const parsePipelineSpecTask = defineWorkerTask<string, ParsedSpecOutcome>(
  __filename,
  'parsePipelineSpecTask',
  (text) => {
    try {
      return { ok: true, spec: checkedSpecDocument(text) };
    } catch (error) {
      if (error instanceof InvalidPipelineSpecError) return { ok: false, issues: error.issues };
      throw error;
    }
  },
);
