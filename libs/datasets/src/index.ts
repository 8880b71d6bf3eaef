export { SPLIT_COLUMN, type SplitName, SPLITS, transformInputs } from './feature-set-layout';
export { readParquet, writeParquet } from './parquet';
export { column, type DatasetColumn, type DatasetTable, recordsFromTable, tableFromRecords, takeRows } from './table';
