/**
 * The WebAssembly text of the SIMD kernels of the native policy, generated here so the block
 * shape is a parameter: a register-blocked matrix product C (+)= A @ B over f32 (gemm), and
 * the two halves of one query's attention over a KV cache (dots, wsum).
 *
 * Why a packed, blocked kernel: V8 does not vectorise JavaScript loops, and wasm SIMD128 only
 * pays when each loaded value feeds several multiply-adds. The kernel copies a block of MR rows
 * of A into a small [K][MR] panel (zero rows past M), then for each NR-column strip of B keeps
 * MR x NR/4 f32x4 accumulators in registers and walks K once: per step NR/4 vector loads of B
 * and MR broadcast loads of A feed MR x NR/4 vector multiply-adds. 4 x 8 measured fastest here
 * (16 x86 vector registers: 8 accumulators, 2 B vectors, 1 broadcast); larger blocks spill.
 * Columns past the last full strip run a scalar loop (the vocabulary, 49, leaves one).
 *
 * A is addressed by element strides (ars between rows, acs between columns), so A^T costs no
 * copy: dW = X^T dY passes ars = 1, acs = row length. B and C are row-major with leading
 * dimensions ldb, ldc (strided sub-matrices such as one attention head are fine).
 * Summation order over K is fixed, so results are deterministic.
 *
 * `scripts/build-kernels.mjs` compiles this text to `kernels-binary.ts`; a test checks the two agree.
 */
export const GEMM_MR = 4;
export const GEMM_NR = 8;

function gemmFunc(MR: number, NR: number): string {
  if (NR % 4 !== 0) throw new Error("gemmWat: NR must be a multiple of 4");
  const NV = NR / 4;
  const acc = (r: number, v: number) => `$c${r}_${v}`;
  const get = (x: string) => `(local.get ${x})`;
  const L: string[] = [];
  // gemm(M, N, K, a, ars, acs, b, ldb, c, ldc, accumulate, pack): pointers in bytes, strides in elements.
  L.push(`(func $gemm (export "gemm") (param $M i32) (param $N i32) (param $K i32) (param $a i32) (param $ars i32) (param $acs i32)`
    + ` (param $b i32) (param $ldb i32) (param $c i32) (param $ldc i32) (param $accum i32) (param $p i32)`);
  const locals = ["$i0 i32", "$j0 i32", "$k i32", "$r i32", "$pa i32", "$pb i32", "$pc i32", "$src i32", "$dst i32", "$rows i32", "$j i32", "$s f32", "$av v128"];
  for (let v = 0; v < NV; v++) locals.push(`$b${v} v128`);
  for (let r = 0; r < MR; r++) for (let v = 0; v < NV; v++) locals.push(`${acc(r, v)} v128`);
  for (const l of locals) L.push(`(local ${l})`);
  for (const s of ["$ars", "$acs", "$ldb", "$ldc"]) L.push(`(local.set ${s} (i32.shl ${get(s)} (i32.const 2)))`);
  L.push(`(local.set $i0 (i32.const 0))`);
  L.push(`(block $iend (loop $iloop`);
  L.push(`(br_if $iend (i32.ge_s ${get("$i0")} ${get("$M")}))`);
  L.push(`(local.set $rows (select (i32.sub ${get("$M")} ${get("$i0")}) (i32.const ${MR}) (i32.lt_s (i32.sub ${get("$M")} ${get("$i0")}) (i32.const ${MR}))))`);
  // Pack rows i0..i0+MR of A as [K][MR], k outer (good for both A and A^T layouts), zeros past M.
  L.push(`(local.set $src (i32.add ${get("$a")} (i32.mul ${get("$i0")} ${get("$ars")})))`);
  L.push(`(local.set $dst ${get("$p")})`);
  L.push(`(local.set $k (i32.const 0))`);
  L.push(`(block $pkend (loop $pkloop (br_if $pkend (i32.ge_s ${get("$k")} ${get("$K")}))`);
  for (let r = 0; r < MR; r++) {
    L.push(`(f32.store offset=${r * 4} ${get("$dst")} (select (f32.load (i32.add ${get("$src")} (i32.mul (i32.const ${r}) ${get("$ars")}))) (f32.const 0) (i32.lt_s (i32.const ${r}) ${get("$rows")})))`);
  }
  L.push(`(local.set $src (i32.add ${get("$src")} ${get("$acs")}))`);
  L.push(`(local.set $dst (i32.add ${get("$dst")} (i32.const ${MR * 4})))`);
  L.push(`(local.set $k (i32.add ${get("$k")} (i32.const 1))) (br $pkloop)))`);
  // Full NR-column strips.
  L.push(`(local.set $j0 (i32.const 0))`);
  L.push(`(block $jend (loop $jloop`);
  L.push(`(br_if $jend (i32.gt_s (i32.add ${get("$j0")} (i32.const ${NR})) ${get("$N")}))`);
  for (let r = 0; r < MR; r++) for (let v = 0; v < NV; v++) L.push(`(local.set ${acc(r, v)} (v128.const i32x4 0 0 0 0))`);
  L.push(`(local.set $pa ${get("$p")})`);
  L.push(`(local.set $pb (i32.add ${get("$b")} (i32.shl ${get("$j0")} (i32.const 2))))`);
  L.push(`(local.set $k ${get("$K")})`);
  L.push(`(block $mkend (loop $mkloop (br_if $mkend (i32.eqz ${get("$k")}))`);
  for (let v = 0; v < NV; v++) L.push(`(local.set $b${v} (v128.load offset=${v * 16} ${get("$pb")}))`);
  for (let r = 0; r < MR; r++) {
    L.push(`(local.set $av (v128.load32_splat offset=${r * 4} ${get("$pa")}))`);
    for (let v = 0; v < NV; v++) L.push(`(local.set ${acc(r, v)} (f32x4.add ${get(acc(r, v))} (f32x4.mul ${get("$av")} ${get(`$b${v}`)})))`);
  }
  L.push(`(local.set $pa (i32.add ${get("$pa")} (i32.const ${MR * 4})))`);
  L.push(`(local.set $pb (i32.add ${get("$pb")} ${get("$ldb")}))`);
  L.push(`(local.set $k (i32.sub ${get("$k")} (i32.const 1))) (br $mkloop)))`);
  for (let r = 0; r < MR; r++) {
    L.push(`(if (i32.lt_s (i32.const ${r}) ${get("$rows")}) (then`);
    L.push(`(local.set $pc (i32.add (i32.add ${get("$c")} (i32.mul (i32.add ${get("$i0")} (i32.const ${r})) ${get("$ldc")})) (i32.shl ${get("$j0")} (i32.const 2))))`);
    for (let v = 0; v < NV; v++) {
      L.push(`(if ${get("$accum")} (then (local.set ${acc(r, v)} (f32x4.add ${get(acc(r, v))} (v128.load offset=${v * 16} ${get("$pc")})))))`);
      L.push(`(v128.store offset=${v * 16} ${get("$pc")} ${get(acc(r, v))})`);
    }
    L.push(`))`);
  }
  L.push(`(local.set $j0 (i32.add ${get("$j0")} (i32.const ${NR}))) (br $jloop)))`);
  // Remaining columns, one at a time.
  L.push(`(local.set $j ${get("$j0")})`);
  L.push(`(block $tend (loop $tloop (br_if $tend (i32.ge_s ${get("$j")} ${get("$N")}))`);
  L.push(`(local.set $r (i32.const 0))`);
  L.push(`(block $trend (loop $trloop (br_if $trend (i32.ge_s ${get("$r")} ${get("$rows")}))`);
  L.push(`(local.set $s (f32.const 0))`);
  L.push(`(local.set $pa (i32.add ${get("$p")} (i32.shl ${get("$r")} (i32.const 2))))`);
  L.push(`(local.set $pb (i32.add ${get("$b")} (i32.shl ${get("$j")} (i32.const 2))))`);
  L.push(`(local.set $k ${get("$K")})`);
  L.push(`(block $tkend (loop $tkloop (br_if $tkend (i32.eqz ${get("$k")}))`);
  L.push(`(local.set $s (f32.add ${get("$s")} (f32.mul (f32.load ${get("$pa")}) (f32.load ${get("$pb")}))))`);
  L.push(`(local.set $pa (i32.add ${get("$pa")} (i32.const ${MR * 4})))`);
  L.push(`(local.set $pb (i32.add ${get("$pb")} ${get("$ldb")}))`);
  L.push(`(local.set $k (i32.sub ${get("$k")} (i32.const 1))) (br $tkloop)))`);
  L.push(`(local.set $pc (i32.add (i32.add ${get("$c")} (i32.mul (i32.add ${get("$i0")} ${get("$r")}) ${get("$ldc")})) (i32.shl ${get("$j")} (i32.const 2))))`);
  L.push(`(if ${get("$accum")} (then (local.set $s (f32.add ${get("$s")} (f32.load ${get("$pc")})))))`);
  L.push(`(f32.store ${get("$pc")} ${get("$s")})`);
  L.push(`(local.set $r (i32.add ${get("$r")} (i32.const 1))) (br $trloop)))`);
  L.push(`(local.set $j (i32.add ${get("$j")} (i32.const 1))) (br $tloop)))`);
  L.push(`(local.set $i0 (i32.add ${get("$i0")} (i32.const ${MR}))) (br $iloop)))`);
  L.push(`)`);
  return L.join("\n");
}

/**
 * dots(q, k, ldk, n, len, out): out[j] = sum_i q[i] k[ldk j + i] for j < n (len a multiple of 4;
 * ldk in elements): one query head against n cached key rows. Each dot is four f32x4 lane sums
 * added lane 0 + 1 + 2 + 3 at the end, a fixed order.
 */
function dotsFunc(): string {
  return `(func $dots (export "dots") (param $q i32) (param $k i32) (param $ldk i32) (param $n i32) (param $len i32) (param $out i32)
  (local $j i32) (local $i i32) (local $pk i32) (local $acc v128) (local $bytes i32)
  (local.set $ldk (i32.shl (local.get $ldk) (i32.const 2)))
  (local.set $bytes (i32.shl (local.get $len) (i32.const 2)))
  (block $jend (loop $jloop (br_if $jend (i32.ge_s (local.get $j) (local.get $n)))
    (local.set $acc (v128.const i32x4 0 0 0 0))
    (local.set $pk (i32.add (local.get $k) (i32.mul (local.get $j) (local.get $ldk))))
    (local.set $i (i32.const 0))
    (block $iend (loop $iloop (br_if $iend (i32.ge_s (local.get $i) (local.get $bytes)))
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (i32.add (local.get $q) (local.get $i))) (v128.load (i32.add (local.get $pk) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 16))) (br $iloop)))
    (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2)))
      (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc))) (f32x4.extract_lane 2 (local.get $acc))) (f32x4.extract_lane 3 (local.get $acc))))
    (local.set $j (i32.add (local.get $j) (i32.const 1))) (br $jloop)))
)`;
}

/**
 * wsum(w, v, ldv, n, len, out): out[i] = sum_j w[j] v[ldv j + i] for i < len (a multiple of 4):
 * the probability-weighted sum of n cached value rows, four columns at a time, j in order.
 */
function wsumFunc(): string {
  return `(func $wsum (export "wsum") (param $w i32) (param $v i32) (param $ldv i32) (param $n i32) (param $len i32) (param $out i32)
  (local $j i32) (local $i i32) (local $pv i32) (local $acc v128) (local $bytes i32)
  (local.set $ldv (i32.shl (local.get $ldv) (i32.const 2)))
  (local.set $bytes (i32.shl (local.get $len) (i32.const 2)))
  (block $iend (loop $iloop (br_if $iend (i32.ge_s (local.get $i) (local.get $bytes)))
    (local.set $acc (v128.const i32x4 0 0 0 0))
    (local.set $pv (i32.add (local.get $v) (local.get $i)))
    (local.set $j (i32.const 0))
    (block $jend (loop $jloop (br_if $jend (i32.ge_s (local.get $j) (local.get $n)))
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load32_splat (i32.add (local.get $w) (i32.shl (local.get $j) (i32.const 2)))) (v128.load (local.get $pv)))))
      (local.set $pv (i32.add (local.get $pv) (local.get $ldv)))
      (local.set $j (i32.add (local.get $j) (i32.const 1))) (br $jloop)))
    (v128.store (i32.add (local.get $out) (local.get $i)) (local.get $acc))
    (local.set $i (i32.add (local.get $i) (i32.const 16))) (br $iloop)))
)`;
}

/**
 * swiglu(a, u, sg, out, n): sg = sigmoid(a), out = a * sg * u for the first n (a multiple of 4)
 * elements. exp runs vectorised: exp(y) = 2^k e^r with k = round(y log2 e), r = y - k ln 2 (ln 2
 * split in two parts, as Cephes does, so r is exact), e^r by its degree-6 Taylor polynomial
 * (|r| <= 0.35: error about 1e-7 relative), 2^k built in the exponent bits; y is clamped to
 * [-87, 88] so 2^k stays a normal float, and sigmoid(a) is 0 below a = -88 (where it is under
 * 1e-38). Agrees with Math.exp to a few float32 ulps.
 */
function swigluFunc(): string {
  const c = (x: number) => `(f32x4.splat (f32.const ${x}))`;
  const poly = [1 / 720, 1 / 120, 1 / 24, 1 / 6, 0.5, 1, 1];
  let p = c(poly[0]);
  for (let i = 1; i < poly.length; i++) p = `(f32x4.add (f32x4.mul ${p} (local.get $r)) ${c(poly[i])})`;
  return `(func $swiglu (export "swiglu") (param $a i32) (param $u i32) (param $sg i32) (param $out i32) (param $n i32)
  (local $i i32) (local $x v128) (local $y v128) (local $k v128) (local $r v128) (local $s v128) (local $bytes i32)
  (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
  (block $end (loop $loop (br_if $end (i32.ge_s (local.get $i) (local.get $bytes)))
    (local.set $x (v128.load (i32.add (local.get $a) (local.get $i))))
    (local.set $y (f32x4.min (f32x4.max (f32x4.neg (local.get $x)) ${c(-87)}) ${c(88)}))
    (local.set $k (f32x4.nearest (f32x4.mul (local.get $y) ${c(1.4426950408889634)})))
    (local.set $r (f32x4.sub (f32x4.sub (local.get $y) (f32x4.mul (local.get $k) ${c(0.693359375)})) (f32x4.mul (local.get $k) ${c(-2.12194440e-4)})))
    (local.set $s (f32x4.mul ${p}
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (i32x4.splat (i32.const 127))) (i32.const 23))))
    (local.set $s (f32x4.div ${c(1)} (f32x4.add ${c(1)} (local.get $s))))
    (local.set $s (v128.and (local.get $s) (f32x4.gt (local.get $x) ${c(-88)})))
    (v128.store (i32.add (local.get $sg) (local.get $i)) (local.get $s))
    (v128.store (i32.add (local.get $out) (local.get $i)) (f32x4.mul (f32x4.mul (local.get $x) (local.get $s)) (v128.load (i32.add (local.get $u) (local.get $i)))))
    (local.set $i (i32.add (local.get $i) (i32.const 16))) (br $loop)))
)`;
}

/** The whole module: one exported memory, gemm, dots, wsum and swiglu. */
export function kernelsWat(MR = GEMM_MR, NR = GEMM_NR): string {
  return [`(module (memory (export "memory") 1 65536)`, gemmFunc(MR, NR), dotsFunc(), wsumFunc(), swigluFunc(), ")"].join("\n") + "\n";
}
