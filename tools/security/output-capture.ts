import fs from 'node:fs';

/**
 * Everything this process writes to stdout and stderr from now on (pino's destination writes the file descriptors
 * directly, console and Nest go through the streams), still passed through. For tests that read a run's logs.
 */
export function captureProcessOutput(): { text: () => string; stop: () => void } {
  const chunks: string[] = [];
  const keep = (fd: unknown, data: unknown) => {
    if (fd !== 1 && fd !== 2) return;
    if (typeof data === 'string') chunks.push(data);
    else if (ArrayBuffer.isView(data))
      chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString());
  };
  const { writeSync, write } = fs;
  const streams = [process.stdout, process.stderr] as const;
  const streamWrites = streams.map((stream) => stream.write);
  fs.writeSync = ((fd: number, data: unknown, ...rest: unknown[]) => {
    keep(fd, data);
    return (writeSync as (...args: unknown[]) => number)(fd, data, ...rest);
  }) as typeof fs.writeSync;
  fs.write = ((fd: number, data: unknown, ...rest: unknown[]) => {
    keep(fd, data);
    return (write as (...args: unknown[]) => void)(fd, data, ...rest);
  }) as typeof fs.write;
  streams.forEach((stream, i) => {
    stream.write = ((data: unknown, ...rest: unknown[]) => {
      keep(i + 1, data);
      return (streamWrites[i] as (...args: unknown[]) => boolean).call(stream, data, ...rest);
    }) as typeof stream.write;
  });
  return {
    text: () => chunks.join(''),
    stop: () => {
      fs.writeSync = writeSync;
      fs.write = write;
      streams.forEach((stream, i) => (stream.write = streamWrites[i]));
    },
  };
}
