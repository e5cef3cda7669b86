/**
 * Cuts a byte stream of raw frames into whole frames. Pipe chunks never line up with frames (a chunk
 * may hold the end of one frame, several whole ones and the start of the next), so bytes are counted.
 */
export class FrameSplitter {
  private current: Uint8Array;
  private filled = 0;

  constructor(readonly frameBytes: number) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0) throw new RangeError(`invalid frame size ${frameBytes}`);
    this.current = new Uint8Array(frameBytes);
  }

  /** Adds a chunk; returns the frames it completed, each in its own buffer (never a view of the chunk). */
  push(chunk: Uint8Array): Uint8Array[] {
    const done: Uint8Array[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(this.frameBytes - this.filled, chunk.length - offset);
      this.current.set(chunk.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === this.frameBytes) {
        done.push(this.current);
        this.current = new Uint8Array(this.frameBytes);
        this.filled = 0;
      }
    }
    return done;
  }

  /** Bytes of an incomplete frame held back (non-zero at the end of a stream means a cut-off frame). */
  get pendingBytes(): number {
    return this.filled;
  }
}
