import { describe, expect, it, vi } from 'vitest';
import { PostgresReader, READER_SESSION } from './postgres-reader';

// The server is faked: the test is about what the reader asks of every connection before it reads.
const queries = vi.hoisted((): string[] => []);
vi.mock('pg', () => ({
  Client: class {
    on(): void {}
    async connect(): Promise<void> {}
    async query(text: string): Promise<void> {
      queries.push(text);
    }
    async end(): Promise<void> {}
  },
}));

describe('PostgresReader.connect', () => {
  it('pins DateStyle=ISO and IntervalStyle=postgres before any read, whatever the database is set to', async () => {
    const reader = await PostgresReader.connect('postgres://source.example/db?options=-c%20datestyle%3DSQL%2CDMY');
    expect(queries).toEqual([READER_SESSION]);
    expect(READER_SESSION).toMatch(/SET DateStyle = 'ISO, YMD'/);
    expect(READER_SESSION).toMatch(/SET IntervalStyle = 'postgres'/);
    await reader.close();
  });
});
