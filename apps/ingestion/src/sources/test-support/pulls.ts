import { readParquet } from '@keel/datasets';
import { type ServiceUnderTest } from '@keel/testing';
import { DatasetVersionsService } from '../../datasets/dataset-versions.service';

/** For the sources' int tests: the x values (source ids) of every row of each dataset version of a pipeline. */
export async function rowsByVersion(sut: ServiceUnderTest, pipelineId: string): Promise<Map<string, number[]>> {
  const versions = await sut.infra.mongo.collection('datasets').find({ pipelineId }).toArray();
  const rows = new Map<string, number[]>();
  for (const version of versions) {
    const bytes = await sut.infra.objects.getVerified({ uri: version.uri as string, sha256: version.sha256 as string });
    const table = await readParquet(bytes);
    rows.set(version.datasetVersionId as string, (table.columns.find((c) => c.name === 'x')?.values ?? []).map(Number));
  }
  return rows;
}

/**
 * For the sources' int tests: makes the `count`th version write from now crash once the version is durable (what a
 * kill -9 between the write and the commit leaves); returns the undo.
 */
export function crashAfterWrite(sut: ServiceUnderTest, count: number): () => void {
  const versions = sut.app.get(DatasetVersionsService);
  const write = versions.write.bind(versions);
  let writes = 0;
  versions.write = async (...args) => {
    const written = await write(...args);
    if (++writes === count) throw new Error('injected crash after the version was written');
    return written;
  };
  return () => (versions.write = write);
}
