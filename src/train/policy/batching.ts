/**
 * Packing (prompt, response) pairs into the right-padded [B, T] layout the model trains on.
 * Position j predicts token j+1, so response token k of a row sits at position
 * promptLen - 1 + k; per-response-token host arrays are scattered there.
 */
export interface SeqPair {
  prompt: readonly number[];
  response: readonly number[];
}

export interface PackedBatch {
  B: number;
  T: number;
  tokens: Int32Array; // [B*T] input ids, pad after each row's end
  targets: Int32Array; // [B*T] next ids (pad where none)
  /** [B*T] 1 where the target is a response token. */
  mask: Float32Array;
  /** [B] position of each row's first response target. */
  start: Int32Array;
  /** [B] response length. */
  len: Int32Array;
}

export function packPairs(pairs: readonly SeqPair[], pad: number): PackedBatch {
  const B = pairs.length;
  let T = 1;
  for (const p of pairs) T = Math.max(T, p.prompt.length + p.response.length - 1);
  const tokens = new Int32Array(B * T).fill(pad);
  const targets = new Int32Array(B * T).fill(pad);
  const mask = new Float32Array(B * T);
  const start = new Int32Array(B);
  const len = new Int32Array(B);
  for (let i = 0; i < B; i++) {
    const seq = [...pairs[i].prompt, ...pairs[i].response];
    if (pairs[i].prompt.length < 1) throw new Error("packPairs: empty prompt");
    for (let j = 0; j < seq.length - 1; j++) {
      tokens[i * T + j] = seq[j];
      targets[i * T + j] = seq[j + 1];
    }
    start[i] = pairs[i].prompt.length - 1;
    len[i] = pairs[i].response.length;
    for (let k = 0; k < len[i]; k++) mask[i * T + start[i] + k] = 1;
  }
  return { B, T, tokens, targets, mask, start, len };
}

/** Scatters per-response-token values (one array per row) into [B*T] positions; 0 elsewhere. */
export function scatter(pb: PackedBatch, perRow: readonly ArrayLike<number>[]): Float32Array {
  const out = new Float32Array(pb.B * pb.T);
  for (let i = 0; i < pb.B; i++) {
    const src = perRow[i];
    for (let k = 0; k < pb.len[i]; k++) out[i * pb.T + pb.start[i] + k] = src[k];
  }
  return out;
}

/** Gathers [B*T] position values back into per-row response arrays. */
export function gather(pb: PackedBatch, flat: ArrayLike<number>): Float64Array[] {
  const out: Float64Array[] = [];
  for (let i = 0; i < pb.B; i++) {
    const a = new Float64Array(pb.len[i]);
    for (let k = 0; k < pb.len[i]; k++) a[k] = flat[i * pb.T + pb.start[i] + k];
    out.push(a);
  }
  return out;
}
