/**
 * A Bloom filter of strings: "certainly not here" or "maybe here", in ~10 bits per item for a 1 % false-positive
 * rate. It lets the label join skip the archive files that cannot hold a prediction id without reading them.
 * Serialized as a 12-byte header (bits, hashes, items) followed by the bit array.
 */
export class BloomFilter {
  private constructor(
    private readonly bits: Uint8Array,
    private readonly bitCount: number,
    private readonly hashes: number,
    private items: number,
  ) {}

  /** An empty filter sized for `expected` items at a false-positive rate of `falsePositiveRate`. */
  static sized(expected: number, falsePositiveRate = 0.01): BloomFilter {
    const n = Math.max(1, expected);
    const bitCount = Math.max(64, Math.ceil((-n * Math.log(falsePositiveRate)) / Math.LN2 ** 2));
    const hashes = Math.max(1, Math.round((bitCount / n) * Math.LN2));
    return new BloomFilter(new Uint8Array(Math.ceil(bitCount / 8)), bitCount, hashes, 0);
  }

  static fromBytes(bytes: Uint8Array): BloomFilter {
    if (bytes.length < 12) throw new Error('not a Bloom filter: shorter than its header');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const bitCount = view.getUint32(0);
    const hashes = view.getUint32(4);
    const items = view.getUint32(8);
    const bits = bytes.subarray(12);
    if (bits.length !== Math.ceil(bitCount / 8) || hashes < 1) throw new Error('not a Bloom filter: bad header');
    return new BloomFilter(bits, bitCount, hashes, items);
  }

  get size(): number {
    return this.items;
  }

  add(value: string): void {
    const [h1, h2] = hashPair(value);
    for (let i = 0; i < this.hashes; i++) {
      const bit = (h1 + i * h2) % this.bitCount;
      this.bits[bit >>> 3] |= 1 << (bit & 7);
    }
    this.items++;
  }

  /** False: the value was never added. True: it probably was. */
  mightContain(value: string): boolean {
    const [h1, h2] = hashPair(value);
    for (let i = 0; i < this.hashes; i++) {
      const bit = (h1 + i * h2) % this.bitCount;
      if ((this.bits[bit >>> 3] & (1 << (bit & 7))) === 0) return false;
    }
    return true;
  }

  toBytes(): Buffer {
    const out = Buffer.alloc(12 + this.bits.length);
    out.writeUInt32BE(this.bitCount, 0);
    out.writeUInt32BE(this.hashes, 4);
    out.writeUInt32BE(this.items, 8);
    out.set(this.bits, 12);
    return out;
  }
}

/** Two independent 32-bit FNV-1a hashes (different offsets) for double hashing (Kirsch–Mitzenmacher). */
function hashPair(value: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  // h2 odd and non-zero, so the probes of one value never collapse onto one bit.
  return [a >>> 0, (b | 1) >>> 0];
}
