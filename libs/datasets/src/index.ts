export {
  ROW_KEY_COLUMN,
  SPLIT_COLUMN,
  type SplitName,
  SPLITS,
  transformInputs,
  WEIGHT_COLUMN,
} from './feature-set-layout';
export {
  incrementsToLoad,
  recencyWeights,
  resolveWindow,
  type RowRanges,
  rowKey,
  type SnapshotIncrement,
  type SnapshotManifest,
  snapshotRef,
  snapshotTable,
  timeValueMs,
  unitHash,
} from './snapshot';
export { parquetColumnTypes, parquetDecompressors, readParquet, writeParquet } from './parquet';
export { column, type DatasetColumn, type DatasetTable, recordsFromTable, tableFromRecords, takeRows } from './table';
export { featureTableOf, type PointInTimeJoin, pointInTimeJoin, type SnapshotJoin } from './point-in-time';
export {
  buildOnlineView,
  type OnlineView,
  type OnlineViewJoin,
  type OnlineViewRow,
  onlineValuesAt,
  PreviousOnlineViewError,
} from './online-view';
