/**
 * The WebAssembly text of the one SIMD kernel the native policy needs: a register-blocked
 * matrix product C (+)= A @ B over f32, generated here so the block shape is a parameter.
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
 * `scripts/build-kernels.mjs` compiles this text to `gemm-binary.ts`; a test checks the two agree.
 */
export const GEMM_MR = 4;
export const GEMM_NR = 8;

export function gemmWat(MR = GEMM_MR, NR = GEMM_NR): string {
  if (NR % 4 !== 0) throw new Error("gemmWat: NR must be a multiple of 4");
  const NV = NR / 4;
  const acc = (r: number, v: number) => `$c${r}_${v}`;
  const get = (x: string) => `(local.get ${x})`;
  const L: string[] = [];
  L.push(`(module (memory (export "memory") 1 65536)`);
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
  L.push(`)`);
  return L.join("\n") + "\n";
}
