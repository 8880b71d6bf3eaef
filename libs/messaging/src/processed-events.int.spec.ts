import { stackEndpoints, uniqueName } from '@keel/testing';
import mongoose, { type Connection, Schema } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoProcessedEventStore } from './processed-events';

describe('mongoose against the real Mongo-compatible server', () => {
  let connection: Connection;

  beforeAll(async () => {
    connection = await mongoose.createConnection(stackEndpoints.mongoUrl).asPromise();
  });
  afterAll(async () => connection?.close());

  it('round-trips a model with nested fields, arrays and dates', async () => {
    const Run = connection.model(
      uniqueName('Run'),
      new Schema({
        pipelineId: { type: String, required: true, index: true },
        params: { learningRate: Number, maxDepth: Number },
        metrics: [{ name: String, value: Number }],
        startedAt: Date,
      }),
    );
    const startedAt = new Date('2026-11-26T06:00:00.000Z');
    const created = await Run.create({
      pipelineId: 'adult-income',
      params: { learningRate: 0.1, maxDepth: 6 },
      metrics: [{ name: 'auc', value: 0.93 }],
      startedAt,
    });
    const found = await Run.findById(created._id).lean();
    expect(found).toMatchObject({
      pipelineId: 'adult-income',
      params: { learningRate: 0.1, maxDepth: 6 },
      metrics: [{ name: 'auc', value: 0.93 }],
      startedAt,
    });
    const info = await connection.db!.admin().command({ buildInfo: 1 });
    expect(info.ferretdbVersion ?? info.version).toBeTruthy();
  });

  it('records processed event ids once, enforced by a unique index', async () => {
    const store = new MongoProcessedEventStore(connection);
    await store.init();
    const consumer = uniqueName('consumer');
    expect(await store.has(consumer, 'e1')).toBe(false);
    await store.record(consumer, 'e1', 'mlops.test.v1');
    await store.record(consumer, 'e1', 'mlops.test.v1');
    expect(await store.has(consumer, 'e1')).toBe(true);
    expect(await connection.collection('processed_events').countDocuments({ consumer })).toBe(1);
  });

  it('sweeps ids recorded before the retention cutoff and keeps the newer ones', async () => {
    const store = new MongoProcessedEventStore(connection);
    await store.init();
    const consumer = uniqueName('consumer');
    const collection = connection.collection<{
      _id: string;
      consumer: string;
      eventId: string;
      topic: string;
      processedAt: Date;
    }>('processed_events');
    const ancient = new Date('2001-01-01T00:00:00.000Z');
    await collection.insertOne({
      _id: `${consumer}\u0000old`,
      consumer,
      eventId: 'old',
      topic: 't',
      processedAt: ancient,
    });
    await store.record(consumer, 'new', 't');

    const deleted = await store.sweep(new Date('2001-06-01T00:00:00.000Z'));
    expect(deleted).toBeGreaterThanOrEqual(1);
    expect(await store.has(consumer, 'old')).toBe(false);
    expect(await store.has(consumer, 'new')).toBe(true);
  });
});
