/** A file's bytes that are not UTF-8, on 1-based physical line `line`. */
export class NotUtf8Text extends Error {
  constructor(readonly line: number) {
    super(`line ${line}: not UTF-8 text`);
  }
}

const NEWLINE = 0x0a;

function newlinesIn(bytes: Uint8Array): number {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let count = 0;
  for (let at = buffer.indexOf(NEWLINE); at >= 0; at = buffer.indexOf(NEWLINE, at + 1)) count++;
  return count;
}

/** The bytes of `bytes` ending it that start a UTF-8 sequence it does not finish (at most 3). */
function unfinishedTail(bytes: Uint8Array): Uint8Array {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back];
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: its lead is further back
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return length > back ? bytes.subarray(bytes.length - back) : new Uint8Array(0);
  }
  return new Uint8Array(0);
}

/**
 * Decodes a file's bytes as UTF-8 piece by piece, refusing bytes that are not UTF-8 with the line they are on. A
 * lenient decoder would store U+FFFD in their place: a Windows-1252 `café` would become `caf�`, one category with
 * `cafè`, silently. Decoding stays one native call a piece; only a refusal looks for its line, in the piece that
 * failed, which is exact because a newline byte never occurs inside a multi-byte sequence.
 */
export class Utf8Text {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  /** Newlines in the pieces decoded so far. */
  private newlines = 0;
  /** The previous piece's unfinished sequence, which the decoder holds and the next piece completes. */
  private carried: Uint8Array = new Uint8Array(0);

  /** The text of the next piece of the file; {@link NotUtf8Text} where it is not UTF-8. */
  decode(piece: Uint8Array): string {
    let text: string;
    try {
      text = this.decoder.decode(piece, { stream: true });
    } catch {
      throw new NotUtf8Text(this.lineOfFault(piece));
    }
    this.newlines += newlinesIn(piece);
    // A sequence ends at most 3 bytes back; a piece shorter than that may continue the one carried before it.
    this.carried = unfinishedTail(piece.length >= 3 ? piece.subarray(piece.length - 3) : concat(this.carried, piece));
    return text;
  }

  /** The end of the file: {@link NotUtf8Text} when it ends inside a multi-byte sequence. */
  end(): string {
    try {
      return this.decoder.decode();
    } catch {
      throw new NotUtf8Text(this.newlines + 1);
    }
  }

  /** The line of the first byte of `piece` (after what was carried) that is not UTF-8. */
  private lineOfFault(piece: Uint8Array): number {
    const bytes = concat(this.carried, piece);
    // Each stretch between newlines starts at a character's start: the first stretch that does not decode holds it.
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let start = 0;
    let line = this.newlines + 1;
    for (;;) {
      const at = buffer.indexOf(NEWLINE, start);
      const last = at < 0;
      const stretch = bytes.subarray(start, last ? bytes.length : at);
      try {
        // The last stretch may end inside a sequence the next piece finishes: streamed, that is no fault.
        new TextDecoder('utf-8', { fatal: true }).decode(stretch, { stream: last });
      } catch {
        return line;
      }
      if (last) return this.newlines + 1; // not found (the decoder saw more than this piece): where it starts
      line++;
      start = at + 1;
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const both = new Uint8Array(a.length + b.length);
  both.set(a);
  both.set(b, a.length);
  return both;
}
