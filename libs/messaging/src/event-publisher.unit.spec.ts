import { decodeCloudEvent, defineEvent } from '@keel/contracts';
import { type Message, type Producer, type ProducerRecord } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SchemaValidationError } from './errors';
import { EventPublisher } from './event-publisher';

const Note = defineEvent({
  topic: 'test.note.written.v1',
  description: 'test event',
  schema: z.object({ name: z.string().min(1), text: z.string() }),
  key: (data) => data.name,
  maxBytes: 1024 * 1024,
});

/** The one producer call EventPublisher makes, recorded. */
function recordingProducer(): { producer: Producer; sends: ProducerRecord[] } {
  const sends: ProducerRecord[] = [];
  const producer = { send: async (record: ProducerRecord) => void sends.push(record) } as unknown as Producer;
  return { producer, sends };
}

describe('EventPublisher.publishMany', () => {
  it('sends many small events in one request, each with its own id and key', async () => {
    // given three events, two with stable ids
    const { producer, sends } = recordingProducer();
    const publisher = new EventPublisher(producer, '/keel/test');
    // when published together
    const ids = await publisher.publishMany(Note, [
      { data: { name: 'a', text: '1' }, options: { id: 'note-a' } },
      { data: { name: 'b', text: '2' }, options: { id: 'note-b' } },
      { data: { name: 'c', text: '3' } },
    ]);
    // then one request carries all three, as three publish() calls would have sent them
    expect(sends).toHaveLength(1);
    const messages = sends[0].messages as Message[];
    expect(messages.map((m) => m.key)).toEqual(['a', 'b', 'c']);
    expect(ids.slice(0, 2)).toEqual([{ id: 'note-a' }, { id: 'note-b' }]);
    const decoded = messages.map((m) => decodeCloudEvent(m.headers, Buffer.from(m.value as string)));
    expect(decoded.map((event) => event.attributes.id)).toEqual(ids.map(({ id }) => id));
    expect(decoded.map((event) => event.data)).toEqual([
      { name: 'a', text: '1' },
      { name: 'b', text: '2' },
      { name: 'c', text: '3' },
    ]);
  });

  it('splits events into requests under the broker message size and sends none when one is invalid', async () => {
    const { producer, sends } = recordingProducer();
    const publisher = new EventPublisher(producer, '/keel/test');
    // given five events of 200 KB each: at most two fit under the request bound
    const big = 'x'.repeat(200 * 1024);
    await publisher.publishMany(
      Note,
      Array.from({ length: 5 }, (_, i) => ({ data: { name: `n${i}`, text: big } })),
    );
    expect(sends.map((send) => send.messages.length)).toEqual([2, 2, 1]);
    // an invalid event fails the call before anything is sent
    await expect(
      publisher.publishMany(Note, [{ data: { name: 'ok', text: '' } }, { data: { name: '', text: '' } }]),
    ).rejects.toBeInstanceOf(SchemaValidationError);
    expect(sends).toHaveLength(3);
  });
});
