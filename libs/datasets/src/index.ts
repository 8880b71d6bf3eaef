export { readParquet, writeParquet } from './parquet';
export { column, type DatasetColumn, type DatasetTable, recordsFromTable, tableFromRecords, takeRows } from './table';
