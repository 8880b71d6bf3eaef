import { describe, expect, it } from 'vitest';
import { NotUtf8Text, Utf8Text } from './utf8-text';

/** `bytes` cut into pieces of `size`, decoded one by one: the text, or the line of the refusal. */
function decodeInPieces(bytes: Buffer, size: number): string | number {
  const text = new Utf8Text();
  let out = '';
  try {
    for (let at = 0; at < bytes.length; at += size) out += text.decode(new Uint8Array(bytes.subarray(at, at + size)));
    return out + text.end();
  } catch (error) {
    if (error instanceof NotUtf8Text) return error.line;
    throw error;
  }
}

const SIZES = [1, 2, 3, 4, 5, 7, 64, 4096];

describe('Utf8Text', () => {
  it('decodes UTF-8 cut anywhere, multi-byte characters included, to the whole text', () => {
    const whole = '\uFEFFname,city\r\ncafé,Zürich ☃\n😀,"a\nb"\n';
    for (const size of SIZES) expect(decodeInPieces(Buffer.from(whole), size)).toBe(whole.slice(1)); // BOM dropped
  });

  it('refuses a Windows-1252 byte with the line it is on, wherever the pieces are cut', () => {
    const lines = ['id,city', '1,Zürich', '2,caf\u00e9', '3,☃'];
    // Line 3 in Latin-1: é is the single byte 0xE9, which starts a 3-byte sequence the next bytes do not continue.
    const bytes = Buffer.concat([
      Buffer.from(`${lines[0]}\n${lines[1]}\n`),
      Buffer.from(`${lines[2]}\n`, 'latin1'),
      Buffer.from(`${lines[3]}\n`),
    ]);
    for (const size of SIZES) expect(decodeInPieces(bytes, size)).toBe(3);
  });

  it('names the first bad line when several are bad, and the last line for a sequence cut off at the end', () => {
    const bytes = Buffer.concat([
      Buffer.from('a\nb\n'),
      Buffer.from([0xff]),
      Buffer.from('\nc\n'),
      Buffer.from([0xc3]),
    ]);
    for (const size of SIZES) expect(decodeInPieces(bytes, size)).toBe(3);
    const cut = Buffer.concat([Buffer.from('a\nb\nc☃'), Buffer.from('☃').subarray(0, 2)]);
    for (const size of SIZES) expect(decodeInPieces(cut, size)).toBe(3);
  });

  it('refuses an overlong or surrogate encoding, which a lenient decoder would turn into U+FFFD', () => {
    expect(decodeInPieces(Buffer.from([0x61, 0x0a, 0xc0, 0xaf, 0x0a]), 1)).toBe(2); // "/" as two bytes
    expect(decodeInPieces(Buffer.from([0x0a, 0x0a, 0xed, 0xa0, 0x80]), 2)).toBe(3); // U+D800
  });
});
