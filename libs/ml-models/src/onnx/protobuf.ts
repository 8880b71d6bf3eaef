/**
 * Minimal protobuf writer: just the wire types ONNX needs (varint, fixed32, length-delimited).
 * Fields are written in the order the caller gives, so output bytes are deterministic.
 */
export class ProtoWriter {
  private chunks: number[] = [];

  private varint(v: number | bigint): void {
    let n = BigInt.asUintN(64, BigInt(v));
    while (n >= 0x80n) {
      this.chunks.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    this.chunks.push(Number(n));
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  /** int32/int64/enum field. */
  int(field: number, v: number): this {
    this.tag(field, 0);
    this.varint(v);
    return this;
  }

  /** float (fixed32) field. */
  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    this.chunks.push(...b);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2);
    this.varint(b.length);
    for (const x of b) this.chunks.push(x);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  /** Embedded message field. */
  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }

  /** Packed repeated float field. */
  packedFloats(field: number, vs: ArrayLike<number>): this {
    return this.bytes(field, new Uint8Array(Float32Array.from(vs).buffer));
  }

  /** Packed repeated int64 field. */
  packedInts(field: number, vs: ArrayLike<number>): this {
    const w = new ProtoWriter();
    for (let i = 0; i < vs.length; i++) w.varint(vs[i]);
    return this.bytes(field, w.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}
