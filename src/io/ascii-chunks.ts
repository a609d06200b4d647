/**
 * ASCII text written straight into byte chunks (browser-safe: no Node Buffer). Output files and
 * service answers are built here rather than as strings: a string made of many appended pieces
 * costs more to flatten into bytes than to build, and a repeated piece (one advantage broadcast
 * over a rollout) is copied in memory instead of converted again.
 */
const encoder = new TextEncoder();

/** Without an estimate, the first chunk starts this small and grows, so a small answer does not allocate a whole chunk. */
const INITIAL_BYTES = 1 << 14;

const EMPTY = new Uint8Array(0);

export class AsciiChunks {
  private buf: Uint8Array;
  private at = 0;
  /** The size of the next chunk's first allocation (set once a chunk has been taken). */
  private next = 0;

  /**
   * `chunkBytes`: the size at which a caller is expected to `take()`; writes past it grow the
   * chunk. `expectedBytes`: the caller's estimate of the whole output, so that a small answer
   * is written into one allocation.
   */
  constructor(
    readonly chunkBytes: number,
    expectedBytes = INITIAL_BYTES,
    /**
     * Keep one buffer for all output: `take()` returns a view that the next write overwrites.
     * For a caller that consumes each chunk at once and writes again only after.
     */
    private readonly reuse = false,
  ) {
    this.buf = new Uint8Array(Math.max(64, Math.min(expectedBytes, chunkBytes + (chunkBytes >> 4) + 1)));
  }

  /** Bytes written since the last take. */
  get length(): number {
    return this.at;
  }

  /** Whether a chunk's worth is written: time to `take()` it. */
  get full(): boolean {
    return this.at >= this.chunkBytes;
  }

  /** Appends ASCII text (one byte per character). */
  text(s: string): void {
    this.reserve(s.length);
    const { read, written } = encoder.encodeInto(s, this.buf.subarray(this.at));
    if (read !== s.length || written !== s.length) throw new Error("AsciiChunks.text: the text is not ASCII (writers escape non-ASCII characters first)");
    this.at += written;
  }

  /** Appends `count` copies of the ASCII text `s`, copying bytes rather than encoding again. */
  repeat(s: string, count: number): void {
    if (count <= 0 || s.length === 0) return;
    const total = s.length * count;
    this.reserve(total);
    const start = this.at;
    this.text(s);
    // Doubling copies: log2(count) native moves.
    for (let done = s.length; done < total; ) {
      const n = Math.min(done, total - done);
      this.buf.copyWithin(start + done, start, start + n);
      done += n;
    }
    this.at = start + total;
  }

  /** The bytes written since the last take; the next writes go to a fresh chunk (unless `reuse`). */
  take(): Uint8Array {
    const out = this.buf.subarray(0, this.at);
    if (this.reuse) {
      this.at = 0;
      return out;
    }
    // Allocated by the next write, if any: after a first full chunk, the next will likely fill
    // up too, so it gets room for a chunk and one more piece at once.
    this.buf = EMPTY;
    this.at = 0;
    this.next = this.chunkBytes + (this.chunkBytes >> 4) + 1;
    return out;
  }

  private reserve(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.next, this.at + n));
    grown.set(this.buf.subarray(0, this.at));
    this.buf = grown;
  }
}

/** Chunks as one text (tests, small answers). */
export function chunksText(chunks: Iterable<Uint8Array>): string {
  const decoder = new TextDecoder("latin1");
  let s = "";
  for (const c of chunks) s += decoder.decode(c, { stream: true });
  return s + decoder.decode();
}
