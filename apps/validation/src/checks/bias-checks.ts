import { type BiasCheck, isFeatureTable, type PipelineSpec, type PreTrainingBiasMetricName } from '@keel/contracts';
import { type DatasetTable } from '@keel/datasets';
import { preTrainingBias } from '@keel/ml-stats';
import { type Finding, type ReferenceColumn } from './validation-checks';

/** Rows without a value of the protected attribute form a facet of their own. */
export const MISSING_FACET = '(missing)';

/** A facet's share of the rows, in a reference (stored as a list: values may not be Mongo keys). */
export interface FacetShare {
  value: string;
  share: number;
}

/** One facet (value) of a protected attribute against the other rows of the version. */
export interface FacetBiasReport {
  facet: string;
  count: number;
  share: number;
  referenceShare?: number;
  positiveProportion?: number;
  restPositiveProportion?: number;
  metrics: Partial<Record<PreTrainingBiasMetricName, number>>;
  undefinedMetrics: Partial<Record<PreTrainingBiasMetricName, string>>;
}

/** Pre-training bias of one protected attribute in a dataset version, for the validation report. */
export interface AttributeBiasReport {
  attribute: string;
  /** Rows measured: those with a label (classification), else every row. */
  rows: number;
  facets: FacetBiasReport[];
}

const facetValue = (value: unknown): string => (value === null || value === '' ? MISSING_FACET : String(value));

/** Each facet's share of the rows of a protected attribute's column: what a later version's representation is held to. */
export function facetShares(values: readonly unknown[]): FacetShare[] {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(facetValue(value), (counts.get(facetValue(value)) ?? 0) + 1);
  return [...counts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([value, count]) => ({ value, share: count / values.length }));
}

/** The reference with each protected attribute's facet shares in this (its first) version. */
export function withFacetShares(
  reference: ReferenceColumn[],
  table: DatasetTable,
  protectedAttributes: readonly string[],
): ReferenceColumn[] {
  return reference.map((column) => {
    const values = table.columns.find((c) => c.name === column.name)?.values;
    return protectedAttributes.includes(column.name) && values ? { ...column, shares: facetShares(values) } : column;
  });
}

/** The facet shares a reference recorded, by attribute. */
export function referenceShares(reference: readonly ReferenceColumn[]): Map<string, FacetShare[]> {
  return new Map(reference.flatMap((column) => (column.shares ? [[column.name, column.shares] as const] : [])));
}

/**
 * Clarify's pre-training bias metrics of every protected attribute present in the version (classification: on the
 * rows with a label, the label distributions compared; regression: class imbalance alone), and each facet's change of
 * share against the reference's, when the reference recorded shares.
 */
export function measureBias(
  spec: PipelineSpec,
  table: DatasetTable,
  referenceShares: ReadonlyMap<string, readonly FacetShare[]>,
): AttributeBiasReport[] {
  // A feature table has no labels and no protected attributes: pre-training bias is a model pipeline's question.
  if (isFeatureTable(spec)) return [];
  const column = (name: string) => table.columns.find((c) => c.name === name)?.values;
  const classification = spec.task !== 'regression';
  const target = column(spec.target.column);
  const labelled: number[] = [];
  for (let i = 0; i < table.rowCount; i++) if (!classification || (target && target[i] !== null)) labelled.push(i);
  const out: AttributeBiasReport[] = [];
  for (const attribute of spec.protectedAttributes) {
    const values = column(attribute);
    // A missing attribute column is the required-column check's finding; an empty version has nothing to measure.
    if (!values || labelled.length === 0) continue;
    const facet = labelled.map((i) => facetValue(values[i]));
    const measured = preTrainingBias({
      facet,
      ...(classification && target
        ? {
            labels: labelled.map((i) => String(target[i])),
            ...(spec.target.positive !== undefined &&
            labelled.some((i) => String(target[i]) === String(spec.target.positive))
              ? { positive: String(spec.target.positive) }
              : {}),
          }
        : {}),
    });
    const reference = referenceShares.get(attribute);
    out.push({
      attribute,
      rows: labelled.length,
      facets: measured.map((m) => {
        const share = m.count / labelled.length;
        const metrics: FacetBiasReport['metrics'] = { ...m.metrics };
        const report: FacetBiasReport = {
          facet: String(m.facet),
          count: m.count,
          share,
          metrics,
          undefinedMetrics: { ...m.undefinedMetrics },
        };
        if (m.positiveProportion !== undefined) report.positiveProportion = m.positiveProportion;
        if (m.restPositiveProportion !== undefined) report.restPositiveProportion = m.restPositiveProportion;
        if (reference) {
          // A facet the reference never had had a share of 0 there.
          report.referenceShare = reference.find((r) => r.value === report.facet)?.share ?? 0;
          metrics.representation_change = share - report.referenceShare;
        }
        return report;
      }),
    });
  }
  return out;
}

/**
 * The spec's bias checks against the measured metrics: a magnitude above `reject` for any facet is an error (the
 * version is rejected), above `warn` a warning. A metric the data leaves undefined, or an attribute that could not be
 * measured, is a warning: the check could not run, and the report says why.
 */
export function biasFindings(checks: readonly BiasCheck[], measured: readonly AttributeBiasReport[]): Finding[] {
  const findings: Finding[] = [];
  for (const check of checks) {
    const attribute = measured.find((m) => m.attribute === check.attribute);
    if (!attribute) {
      findings.push({
        check: 'pre-training-bias',
        column: check.attribute,
        severity: 'warning',
        message: `${check.metric} of ${check.attribute} not measured: the version has no such column or no rows`,
      });
      continue;
    }
    for (const facet of attribute.facets) {
      const value = facet.metrics[check.metric];
      if (value === undefined) {
        const why =
          facet.undefinedMetrics[check.metric] ??
          (check.metric === 'representation_change' ? 'the reference recorded no shares' : 'not measured');
        findings.push({
          check: 'pre-training-bias',
          column: check.attribute,
          severity: 'warning',
          message: `${check.attribute}=${facet.facet}: ${check.metric} undefined: ${why}`,
        });
        continue;
      }
      const magnitude = Math.abs(value);
      const bound =
        check.reject !== undefined && magnitude > check.reject
          ? { severity: 'error' as const, name: 'reject', limit: check.reject }
          : check.warn !== undefined && magnitude > check.warn
            ? { severity: 'warning' as const, name: 'warn', limit: check.warn }
            : undefined;
      if (!bound) continue;
      findings.push({
        check: 'pre-training-bias',
        column: check.attribute,
        severity: bound.severity,
        message:
          `${check.attribute}=${facet.facet} (n=${facet.count} of ${attribute.rows}): ${check.metric} ${round(value)}, ` +
          `|${round(value)}| above the ${bound.name} threshold ${bound.limit}`,
      });
    }
  }
  return findings;
}

const round = (value: number): string => String(Number(value.toPrecision(6)));
