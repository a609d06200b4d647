/**
 * A small seeded PRNG (sfc32) whose whole state is four uint32s, so a checkpoint can store it
 * and a resumed run draws exactly the numbers an uninterrupted run would have drawn.
 */
export class Rng {
  private s: Uint32Array;

  constructor(seed: number | readonly number[]) {
    this.s = new Uint32Array(4);
    if (typeof seed === "number") {
      // splitmix32 spreads a small integer seed over the whole state.
      let x = seed >>> 0;
      for (let k = 0; k < 4; k++) {
        x = (x + 0x9e3779b9) >>> 0;
        let z = x;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
        this.s[k] = (z ^ (z >>> 16)) >>> 0;
      }
      for (let k = 0; k < 12; k++) this.nextU32();
    } else {
      if (seed.length !== 4) throw new Error("Rng state must have 4 entries");
      this.s.set(seed);
    }
  }

  nextU32(): number {
    const s = this.s;
    const t = (((s[0] + s[1]) >>> 0) + s[3]) >>> 0;
    s[3] = (s[3] + 1) >>> 0;
    s[0] = s[1] ^ (s[1] >>> 9);
    s[1] = (s[2] + (s[2] << 3)) >>> 0;
    s[2] = ((s[2] << 21) | (s[2] >>> 11)) >>> 0;
    s[2] = (s[2] + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller), for weight initialisation. */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A child generator with an independent stream, seeded from this one. */
  fork(): Rng {
    return new Rng([this.nextU32(), this.nextU32(), this.nextU32(), this.nextU32() | 1]);
  }

  get state(): number[] {
    return Array.from(this.s);
  }

  /** As a plain function, for the Task interface. */
  fn(): () => number {
    return () => this.next();
  }
}
