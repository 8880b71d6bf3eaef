import { z } from 'zod';

/** Pipeline ids are lowercase slugs: they appear in topic keys, bucket prefixes and trace attributes. */
export const PipelineId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'must be a lowercase slug of 2-63 characters (a-z, 0-9, -)')
  .brand<'PipelineId'>()
  .describe('Id of the pipeline this event belongs to');
export type PipelineId = z.infer<typeof PipelineId>;

/** A lowercase hex sha256 digest. */
export const Sha256 = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex sha256')
  .describe('sha256 of the content, lowercase hex');

/** Location of an artifact in object storage, `s3://bucket/key`. */
export const ObjectUri = z
  .string()
  .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/.+$/, 'must be an s3://bucket/key URI')
  .describe('Artifact location in object storage');

export const DatasetVersionId = z
  .string()
  .regex(/^ds-[0-9a-f]{16,64}$/, 'must be ds- followed by hex')
  .brand<'DatasetVersionId'>()
  .describe('Content-derived id of an immutable dataset version');
export type DatasetVersionId = z.infer<typeof DatasetVersionId>;

export const FeatureSetId = z
  .string()
  .regex(/^fs-[0-9a-f]{16,64}$/, 'must be fs- followed by hex')
  .brand<'FeatureSetId'>()
  .describe('Content-derived id of a materialized feature set');
export type FeatureSetId = z.infer<typeof FeatureSetId>;

export const ModelVersionNumber = z.number().int().positive().describe('Registry version number, 1, 2, 3, ...');

/** Instant in ISO 8601 with offset (UTC "Z" preferred). */
export const Timestamp = z.iso.datetime({ offset: true }).describe('ISO 8601 instant');

/** A scalar cell value as it appears in upstream records and inference inputs. */
export const Scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
export type Scalar = z.infer<typeof Scalar>;

/** Column type as inferred by ingestion and checked by validation. */
export const ColumnType = z.enum(['number', 'integer', 'string', 'boolean', 'timestamp']);
export type ColumnType = z.infer<typeof ColumnType>;

/**
 * Per-column drift statistics, by name: `psi`, `jensen-shannon` and `wasserstein` (normed) are distances (drift when
 * the value reaches the threshold); `ks` and `chi2` are tests whose value is a p-value (drift when it falls below).
 */
export const DriftStatisticName = z.enum(['psi', 'ks', 'chi2', 'jensen-shannon', 'wasserstein']);
export type DriftStatisticName = z.infer<typeof DriftStatisticName>;
