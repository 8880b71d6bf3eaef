/**
 * Bytes of an upload posted to its worker and not yet parsed there, at most: a few MiB keep the worker busy between
 * two chunks while a client (or an object-store stream) faster than the parser waits, so an upload holds this much,
 * not its whole body (up to INGESTION_MAX_UPLOAD_BYTES) in the port's queue.
 */
export const UPLOAD_BYTES_IN_FLIGHT = 4 * 1024 * 1024;

/**
 * Credit-based flow control for a body posted down a MessagePort, which has no backpressure of its own: the sender
 * takes credit for a chunk before posting it and the receiver gives it back as it consumes the chunk.
 */
export class SendWindow {
  private inFlight = 0;
  private closed = false;
  private wake: (() => void) | undefined;

  constructor(readonly limit: number = UPLOAD_BYTES_IN_FLIGHT) {}

  /** Bytes posted and not yet given back. */
  get bytesInFlight(): number {
    return this.inFlight;
  }

  /**
   * Resolves true once `bytes` more fit in the window (a chunk larger than the window fits when nothing else is in
   * flight, so it cannot wait forever), or false once the window is {@link close}d.
   */
  async take(bytes: number): Promise<boolean> {
    while (!this.closed && this.inFlight > 0 && this.inFlight + bytes > this.limit) {
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    if (this.closed) return false;
    this.inFlight += bytes;
    return true;
  }

  /** The receiver consumed `bytes`. */
  giveBack(bytes: number): void {
    this.inFlight -= bytes;
    this.wakeSender();
  }

  /** The receiver stopped reading (done, or its file refused early): it gives nothing back any more. */
  close(): void {
    this.closed = true;
    this.wakeSender();
  }

  private wakeSender(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
