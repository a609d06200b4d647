/**
 * The one character-level vocabulary shared by every task, so a single small policy can be
 * warm-started and trained on any of them (or a mix) without resizing its embedding.
 *
 * Every token is exactly one character, specials included ("_" pad, "^" bos, "$" eos), so
 * `decode` is total and `encode(decode(ids))` returns `ids` for every valid id sequence: logs
 * and JSONL dumps of rollouts stay readable and re-encodable. No task text uses those three
 * characters, so a special can never be confused with content.
 */
import type { Vocab } from "./types.js";

/** Id of each character is its index in this string. Specials first so their ids are 0, 1, 2. */
export const SYMBOLS = "_^$0123456789+-*=,;:>? abcdefghijklmnopqrstuvwxyz";

export const PAD = 0;
export const BOS = 1;
export const EOS = 2;

export class CharVocab implements Vocab {
  readonly size: number;
  readonly pad = PAD;
  readonly bos = BOS;
  readonly eos = EOS;
  private readonly ids = new Map<string, number>();

  constructor(readonly symbols: string) {
    const chars = [...symbols];
    this.size = chars.length;
    chars.forEach((c, i) => {
      if (this.ids.has(c)) throw new Error(`vocab: duplicate symbol '${c}'`);
      this.ids.set(c, i);
    });
  }

  /** Throws on a character outside the vocabulary: task text is generated, so that is a bug. */
  encode(text: string): number[] {
    const out: number[] = [];
    for (const c of text) {
      const id = this.ids.get(c);
      if (id === undefined) throw new Error(`vocab: character '${c}' is not in the vocabulary`);
      out.push(id);
    }
    return out;
  }

  /** Throws on an id outside [0, size): ids come from the policy's own output layer. */
  decode(ids: readonly number[]): string {
    let s = "";
    for (const id of ids) {
      if (!this.isId(id)) throw new Error(`vocab: token id ${id} is outside [0, ${this.size})`);
      s += this.symbols[id];
    }
    return s;
  }

  isId(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.size;
  }
}

/** The shared vocabulary (49 symbols). */
export const VOCAB = new CharVocab(SYMBOLS);
