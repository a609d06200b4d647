/**
 * A WebAssembly instance of the gemm kernel with its own linear memory, and a bump allocator
 * over that memory. Every array the native model touches lives there, so the kernel reads
 * weights and activations in place, with no copies across the JS/wasm boundary.
 *
 * Growing wasm memory detaches earlier ArrayBuffers, so buffers are handed out as `F32`
 * handles whose `.a` view is rebuilt when the memory has grown; read `.a` after the last
 * allocation of a phase and keep it in a local.
 */
import { KERNELS_WASM_BASE64 } from "./kernels-binary.js";
import { GEMM_MR } from "./kernels-wat.js";

/** The slice of the WebAssembly JS API used here (the project's TS lib has no DOM types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: object | null = null;

function gemmModule(): object {
  if (!compiled) compiled = new wasm.Module(Uint8Array.from(Buffer.from(KERNELS_WASM_BASE64, "base64")));
  return compiled;
}

type GemmFn = (M: number, N: number, K: number, a: number, ars: number, acs: number, b: number, ldb: number, c: number, ldc: number, acc: number, pack: number) => void;
type RowsFn = (x: number, rows: number, ld: number, n: number, len: number, out: number) => void;

/** A float32 array at a fixed place in a workspace's memory. */
export class F32 {
  private view: Float32Array;
  constructor(private readonly ws: Workspace, readonly off: number, readonly length: number) {
    this.view = new Float32Array(ws.memory.buffer, off, length);
  }
  /** The current view (rebuilt if the memory grew since it was made). */
  get a(): Float32Array {
    if (this.view.buffer !== this.ws.memory.buffer) this.view = new Float32Array(this.ws.memory.buffer, this.off, this.length);
    return this.view;
  }
  /** Byte address of element i, for the kernel. */
  at(i = 0): number {
    return this.off + 4 * i;
  }
}

const PAGE = 65536;
const K_BLOCK = 256;

export class Workspace {
  readonly memory: WasmMemory;
  private readonly gemmFn: GemmFn;
  private readonly dotsFn: RowsFn;
  private readonly wsumFn: RowsFn;
  private readonly swigluFn: (a: number, u: number, sg: number, out: number, n: number) => void;
  private top = 64;
  private pack: F32 | null = null;

  constructor() {
    const inst = new wasm.Instance(gemmModule(), {});
    this.memory = inst.exports.memory as WasmMemory;
    this.gemmFn = inst.exports.gemm as GemmFn;
    this.dotsFn = inst.exports.dots as RowsFn;
    this.wsumFn = inst.exports.wsum as RowsFn;
    this.swigluFn = inst.exports.swiglu as (a: number, u: number, sg: number, out: number, n: number) => void;
  }

  /** Current allocation point: `release(mark())` frees everything allocated after it. */
  mark(): number {
    return this.top;
  }

  release(mark: number): void {
    this.top = mark;
    this.pack = null;
  }

  /** n floats, 16-byte aligned, zeroed unless `zero` is false (for buffers always written before read). */
  alloc(n: number, zero = true): F32 {
    const off = (this.top + 15) & ~15;
    const end = off + 4 * Math.max(n, 1);
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    this.top = end;
    const f = new F32(this, off, n);
    if (zero) f.a.fill(0);
    return f;
  }

  /** Reserves the kernel's packing panel for products with inner dimension up to maxK. */
  reserveGemm(maxK: number): void {
    const k = Math.min(maxK, K_BLOCK);
    if (!this.pack || this.pack.length < k * GEMM_MR) this.pack = this.alloc(Math.max(k, 64) * GEMM_MR);
  }

  /**
   * C[i, j] (+)= sum_k A[i, k] B[k, j] for i < M, j < N, k < K, where A[i, k] = a[ars i + acs k]
   * (element offsets from `ai`), B[k, j] = b[ldb k + j], C[i, j] = c[ldc i + j].
   */
  gemm(M: number, N: number, K: number, a: F32, ai: number, ars: number, acs: number, b: F32, bi: number, ldb: number, c: F32, ci: number, ldc: number, accumulate: boolean): void {
    if (M === 0 || N === 0) return;
    // Allocating here could grow the memory under views the caller holds: demand it up front.
    if (!this.pack || this.pack.length < Math.min(K, K_BLOCK) * GEMM_MR) throw new Error(`gemm: K = ${K} exceeds the reserved pack size (call reserveGemm first)`);
    // Long inner dimensions (X^T dY over a whole batch) go in slices of K_BLOCK, so the slice
    // of B stays in L2 while every row block of A passes over it (31 -> 45 GFLOP/s measured).
    for (let k0 = 0; k0 < K; k0 += K_BLOCK) {
      const kk = Math.min(K_BLOCK, K - k0);
      this.gemmFn(M, N, kk, a.at(ai + k0 * acs), ars, acs, b.at(bi + k0 * ldb), ldb, c.at(ci), ldc, accumulate || k0 > 0 ? 1 : 0, this.pack.off);
    }
  }

  /** out[j] = sum_i q[i] k[ldk j + i] for j < n, i < len (len a multiple of 4). */
  dots(q: F32, qi: number, k: F32, ki: number, ldk: number, n: number, len: number, out: F32, oi: number): void {
    this.dotsFn(q.at(qi), k.at(ki), ldk, n, len, out.at(oi));
  }

  /** The vectorised part of swiglu() below (n a multiple of 4). */
  swigluKernel(a: F32, u: F32, sg: F32, out: F32, n: number): void {
    this.swigluFn(a.off, u.off, sg.off, out.off, n);
  }

  /** out[i] = sum_j w[j] v[ldv j + i] for i < len (a multiple of 4), j < n. */
  wsum(w: F32, wi: number, v: F32, vi: number, ldv: number, n: number, len: number, out: F32, oi: number): void {
    this.wsumFn(w.at(wi), v.at(vi), ldv, n, len, out.at(oi));
  }
}

/**
 * SwiGLU's elementwise half for n elements: sg = sigmoid(a) (kept for the backward pass) and
 * out = silu(a) * u = a * sg * u. Vectorised in wasm (see swigluFunc); the last n % 4 here.
 */
export function swiglu(ws: Workspace, a: F32, u: F32, sg: F32, out: F32, n: number): void {
  const vec = n & ~3;
  ws.swigluKernel(a, u, sg, out, vec);
  const A = a.a, U = u.a, G = sg.a, O = out.a;
  for (let i = vec; i < n; i++) {
    const s = 1 / (1 + Math.exp(-A[i]));
    G[i] = s;
    O[i] = A[i] * s * U[i];
  }
}

/** dst[j, i] = src[i, j] for a [rows, cols] row-major src. */
export function transposeInto(src: Float32Array, rows: number, cols: number, dst: Float32Array): void {
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    for (let j = 0; j < cols; j++) dst[j * rows + i] = src[o + j];
  }
}
