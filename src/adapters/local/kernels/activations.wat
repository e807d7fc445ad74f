;; GELU and softmax over the memory of tfjs-wasm's heap (imported, so tensors are read and
;; written in place), four float32 lanes at a time, on one exp. tfjs-wasm's exp and tanh are
;; scalar libm, a GELU written with its kernels runs nine of them forward, and in JavaScript a
;; tanh or exp alone cost about 11 ns an element.
;;
;; exp(y), −87 ≤ y ≤ 88: 2^k·exp(r) with k = round(y/ln2) and r = y − k·ln2 (ln2 in two parts,
;; so r keeps its precision), exp(r) by its Taylor series to r⁷ (|r| ≤ 0.35: error below 1e-8),
;; 2^k made from its exponent bits; y is raised to −87, where exp is 1.6e-38, the least normal
;; range. It runs as one loop over memory ($expInPlace), its constants held in locals: V8 does
;; not hoist a constant out of a loop, and builds each of them anew in several instructions
;; where it is used. The kernels below therefore work in blocks of 256 floats (1 KiB, which
;; stay in the L1 cache): they write the arguments of exp, take exp of the block in place,
;; then make their results from it.
;;
;; GELU (tanh approximation, GPT-2's):
;;   u = c·(x + 0.044715·x³), c = √(2/π);  y = x/2 · (1 + tanh u)
;;   dy/dx = (1 + tanh u)/2 + x/2 · (1 − tanh² u) · c·(1 + 3·0.044715·x²)
;; with tanh u = sign(u)·(1 − e)/(1 + e), e = exp(−2|u|), |u| capped at 20 (tanh is 1 in
;; float32 well before); u has the sign of x. The gradient computes tanh u again: a second
;; output of the forward kernel would cost more, as tfjs fills the gradient of an unused output
;; with zeros. The GELU exports handle `count` elements, a multiple of 4, and use their output
;; for the block's exps.
;;
;; Softmax rows: a row's maximum and its sum of exp(z − max), and rows scaled by their softmax.
;; Rows need not be a multiple of 4 long, nor aligned: their exps go through `scratch`, 256
;; floats of the caller's, a block at a time. Pointers are byte offsets.
(module
  (import "env" "memory" (memory 1))

  ;; exp of the `count` floats at `p` (a multiple of 4), in place.
  (func $expInPlace (param $p i32) (param $count i32)
    (local $end i32) (local $y v128) (local $shifted v128) (local $k v128) (local $r v128) (local $q v128)
    (local $floor v128) (local $log2e v128) (local $magic v128) (local $ln2High v128) (local $ln2Low v128)
    (local $c7 v128) (local $c6 v128) (local $c5 v128) (local $c4 v128) (local $c3 v128) (local $half v128) (local $one v128) (local $bias v128)
    (local.set $floor (v128.const f32x4 -87 -87 -87 -87))
    (local.set $log2e (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504))
    (local.set $magic (v128.const f32x4 12582912 12582912 12582912 12582912))
    (local.set $ln2High (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))
    (local.set $ln2Low (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))
    (local.set $c7 (v128.const f32x4 1.98412698e-4 1.98412698e-4 1.98412698e-4 1.98412698e-4))
    (local.set $c6 (v128.const f32x4 1.38888889e-3 1.38888889e-3 1.38888889e-3 1.38888889e-3))
    (local.set $c5 (v128.const f32x4 8.33333333e-3 8.33333333e-3 8.33333333e-3 8.33333333e-3))
    (local.set $c4 (v128.const f32x4 4.16666667e-2 4.16666667e-2 4.16666667e-2 4.16666667e-2))
    (local.set $c3 (v128.const f32x4 1.66666667e-1 1.66666667e-1 1.66666667e-1 1.66666667e-1))
    (local.set $half (v128.const f32x4 0.5 0.5 0.5 0.5))
    (local.set $one (v128.const f32x4 1 1 1 1))
    (local.set $bias (v128.const i32x4 127 127 127 127))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        ;; pmax, not max: the plain max instruction (a NaN in y stays a NaN either way).
        (local.set $y (f32x4.pmax (v128.load align=4 (local.get $p)) (local.get $floor)))
        ;; Adding 1.5·2^23 rounds y/ln2 to the nearest integer (ties to even, as f32x4.nearest),
        ;; which then sits in the low bits of the sum: k as a float, and as an integer from the
        ;; bits, with no rounding or conversion instruction (V8 spells both out at length on x86).
        (local.set $shifted (f32x4.add (f32x4.mul (local.get $y) (local.get $log2e)) (local.get $magic)))
        (local.set $k (f32x4.sub (local.get $shifted) (local.get $magic)))
        (local.set $r (f32x4.sub
          (f32x4.sub (local.get $y) (f32x4.mul (local.get $k) (local.get $ln2High)))
          (f32x4.mul (local.get $k) (local.get $ln2Low))))
        (local.set $q (f32x4.add (f32x4.mul (local.get $c7) (local.get $r)) (local.get $c6)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (local.get $c5)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (local.get $c4)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (local.get $c3)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (local.get $half)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (local.get $one)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (local.get $one)))
        (v128.store align=4 (local.get $p) (f32x4.mul (local.get $q)
          (i32x4.shl (i32x4.add (i32x4.sub (local.get $shifted) (local.get $magic)) (local.get $bias)) (i32.const 23))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $each))))

  ;; Block size in floats, and the floats left from `count` for the next block.
  (func $blockOf (param $count i32) (result i32)
    (select (i32.const 256) (local.get $count) (i32.gt_u (local.get $count) (i32.const 256))))

  ;; e[i] = −min(2|u(x[i])|, 40), u = c·(x + 0.044715·x³): the argument of exp for tanh u.
  (func $tanhArguments (param $x i32) (param $e i32) (param $count i32)
    (local $end i32) (local $v v128) (local $c v128) (local $cubic v128) (local $two v128) (local $cap v128)
    (local.set $c (v128.const f32x4 0.797884561 0.797884561 0.797884561 0.797884561))
    (local.set $cubic (v128.const f32x4 0.044715 0.044715 0.044715 0.044715))
    (local.set $two (v128.const f32x4 2 2 2 2))
    (local.set $cap (v128.const f32x4 40 40 40 40))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $v (v128.load align=4 (local.get $x)))
        (v128.store align=4 (local.get $e) (f32x4.neg (f32x4.pmin
          (f32x4.mul (f32x4.abs (f32x4.mul (local.get $c)
            (f32x4.add (local.get $v) (f32x4.mul (local.get $cubic) (f32x4.mul (local.get $v) (f32x4.mul (local.get $v) (local.get $v)))))))
            (local.get $two))
          (local.get $cap))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $e (i32.add (local.get $e) (i32.const 16)))
        (br $each))))

  ;; tanh u from e = exp(−2|u|), given the x that u has the sign of.
  (func $tanhFrom (param $e v128) (param $x v128) (result v128)
    (v128.or
      (f32x4.div (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $e)) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $e)))
      (v128.and (local.get $x) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))

  ;; y[i] = gelu(x[i]).
  (func (export "geluForward") (param $x i32) (param $y i32) (param $count i32)
    (local $n i32) (local $at i32) (local $end i32) (local $v v128) (local $half v128) (local $one v128)
    (local.set $half (v128.const f32x4 0.5 0.5 0.5 0.5))
    (local.set $one (v128.const f32x4 1 1 1 1))
    (block $done
      (loop $blocks
        (br_if $done (i32.eqz (local.get $count)))
        (local.set $n (call $blockOf (local.get $count)))
        (call $tanhArguments (local.get $x) (local.get $y) (local.get $n))
        (call $expInPlace (local.get $y) (local.get $n))
        (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
        (block $block_done
          (loop $each
            (br_if $block_done (i32.ge_u (local.get $x) (local.get $end)))
            (local.set $v (v128.load align=4 (local.get $x)))
            (v128.store align=4 (local.get $y) (f32x4.mul (f32x4.mul (local.get $half) (local.get $v))
              (f32x4.add (local.get $one) (call $tanhFrom (v128.load align=4 (local.get $y)) (local.get $v)))))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $y (i32.add (local.get $y) (i32.const 16)))
            (br $each)))
        (local.set $count (i32.sub (local.get $count) (local.get $n)))
        (br $blocks))))

  ;; dx[i] = dy[i] · gelu'(x[i]).
  (func (export "geluBackward") (param $x i32) (param $dy i32) (param $dx i32) (param $count i32)
    (local $n i32) (local $end i32) (local $v v128) (local $tanh v128)
    (local $half v128) (local $one v128) (local $c v128) (local $cubic3 v128)
    (local.set $half (v128.const f32x4 0.5 0.5 0.5 0.5))
    (local.set $one (v128.const f32x4 1 1 1 1))
    (local.set $c (v128.const f32x4 0.797884561 0.797884561 0.797884561 0.797884561))
    (local.set $cubic3 (v128.const f32x4 0.134145 0.134145 0.134145 0.134145))
    (block $done
      (loop $blocks
        (br_if $done (i32.eqz (local.get $count)))
        (local.set $n (call $blockOf (local.get $count)))
        (call $tanhArguments (local.get $x) (local.get $dx) (local.get $n))
        (call $expInPlace (local.get $dx) (local.get $n))
        (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
        (block $block_done
          (loop $each
            (br_if $block_done (i32.ge_u (local.get $x) (local.get $end)))
            (local.set $v (v128.load align=4 (local.get $x)))
            (local.set $tanh (call $tanhFrom (v128.load align=4 (local.get $dx)) (local.get $v)))
            (v128.store align=4 (local.get $dx) (f32x4.mul (v128.load align=4 (local.get $dy)) (f32x4.add
              (f32x4.mul (local.get $half) (f32x4.add (local.get $one) (local.get $tanh)))
              (f32x4.mul
                (f32x4.mul (f32x4.mul (local.get $half) (local.get $v)) (f32x4.sub (local.get $one) (f32x4.mul (local.get $tanh) (local.get $tanh))))
                (f32x4.mul (local.get $c) (f32x4.add (local.get $one) (f32x4.mul (local.get $cubic3) (f32x4.mul (local.get $v) (local.get $v)))))))))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
            (local.set $dx (i32.add (local.get $dx) (i32.const 16)))
            (br $each)))
        (local.set $count (i32.sub (local.get $count) (local.get $n)))
        (br $blocks))))

  ;; The maximum of the `width` floats at `row`.
  (func $rowMax (param $row i32) (param $width i32) (result f32)
    (local $end i32) (local $vectorEnd i32) (local $best v128) (local $max f32)
    (local.set $end (i32.add (local.get $row) (i32.shl (local.get $width) (i32.const 2))))
    (local.set $vectorEnd (i32.sub (local.get $end) (i32.shl (i32.and (local.get $width) (i32.const 3)) (i32.const 2))))
    (local.set $best (v128.const f32x4 -inf -inf -inf -inf))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $row) (local.get $vectorEnd)))
        (local.set $best (f32x4.max (local.get $best) (v128.load align=4 (local.get $row))))
        (local.set $row (i32.add (local.get $row) (i32.const 16)))
        (br $each)))
    (local.set $max (f32.max
      (f32.max (f32x4.extract_lane 0 (local.get $best)) (f32x4.extract_lane 1 (local.get $best)))
      (f32.max (f32x4.extract_lane 2 (local.get $best)) (f32x4.extract_lane 3 (local.get $best)))))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $row) (local.get $end)))
        (local.set $max (f32.max (local.get $max) (f32.load (local.get $row))))
        (local.set $row (i32.add (local.get $row) (i32.const 4)))
        (br $tail)))
    (local.get $max))

  ;; scratch[j] = exp(z[j] − max) for the `n` ≤ 256 floats at `z`. The scratch is filled up to
  ;; a multiple of 4 (the floats past `n` are exps of zeros, never read).
  (func $shiftedExps (param $z i32) (param $scratch i32) (param $n i32) (param $max f32)
    (local $j i32) (local $whole i32) (local $padded i32) (local $shift v128)
    (local.set $whole (i32.and (local.get $n) (i32.const -4)))
    (local.set $padded (i32.and (i32.add (local.get $n) (i32.const 3)) (i32.const -4)))
    (local.set $shift (f32x4.splat (local.get $max)))
    (block $vectors_done
      (loop $vectors
        (br_if $vectors_done (i32.ge_u (local.get $j) (local.get $whole)))
        (v128.store align=4 (i32.add (local.get $scratch) (i32.shl (local.get $j) (i32.const 2)))
          (f32x4.sub (v128.load align=4 (i32.add (local.get $z) (i32.shl (local.get $j) (i32.const 2)))) (local.get $shift)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $vectors)))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
        (f32.store (i32.add (local.get $scratch) (i32.shl (local.get $j) (i32.const 2)))
          (f32.sub (f32.load (i32.add (local.get $z) (i32.shl (local.get $j) (i32.const 2)))) (local.get $max)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $each)))
    (block $pad_done
      (loop $pad
        (br_if $pad_done (i32.ge_u (local.get $j) (local.get $padded)))
        (f32.store (i32.add (local.get $scratch) (i32.shl (local.get $j) (i32.const 2))) (f32.const 0))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $pad)))
    (call $expInPlace (local.get $scratch) (local.get $padded)))

  ;; The sum of exp(z − max) over the `width` floats z at `row`, through `scratch`: whole vectors
  ;; summed lane by lane, the lanes added, then the last few floats one at a time. With `keep`,
  ;; the exps are also copied to `out`, `width` floats.
  (func $rowExpSum (param $row i32) (param $width i32) (param $max f32) (param $scratch i32) (param $keep i32) (param $out i32) (result f32)
    (local $n i32) (local $j i32) (local $whole i32) (local $sums v128) (local $sum f32)
    (block $done
      (loop $blocks
        (br_if $done (i32.eqz (local.get $width)))
        (local.set $n (call $blockOf (local.get $width)))
        (call $shiftedExps (local.get $row) (local.get $scratch) (local.get $n) (local.get $max))
        (local.set $whole (i32.and (local.get $n) (i32.const -4)))
        (local.set $j (i32.const 0))
        (block $vectors_done
          (loop $vectors
            (br_if $vectors_done (i32.ge_u (local.get $j) (local.get $whole)))
            (local.set $sums (f32x4.add (local.get $sums) (v128.load align=4 (i32.add (local.get $scratch) (i32.shl (local.get $j) (i32.const 2))))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $vectors)))
        (if (local.get $keep) (then
          (memory.copy (local.get $out) (local.get $scratch) (i32.shl (local.get $n) (i32.const 2)))
          (local.set $out (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))))
        (local.set $row (i32.add (local.get $row) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $width (i32.sub (local.get $width) (local.get $n)))
        (br $blocks)))
    (local.set $sum (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $sums)) (f32x4.extract_lane 1 (local.get $sums)))
      (f32.add (f32x4.extract_lane 2 (local.get $sums)) (f32x4.extract_lane 3 (local.get $sums)))))
    ;; Blocks are whole vectors but the last: its floats past them are still in the scratch.
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $whole) (local.get $n)))
        (local.set $sum (f32.add (local.get $sum) (f32.load (i32.add (local.get $scratch) (i32.shl (local.get $whole) (i32.const 2))))))
        (local.set $whole (i32.add (local.get $whole) (i32.const 1)))
        (br $tail)))
    (local.get $sum))

  ;; For each of `rows` rows of `width` floats from `z`: max[r] and sum[r] = Σ exp(z − max[r]).
  (func (export "softmaxParts") (param $z i32) (param $rows i32) (param $width i32) (param $maxOut i32) (param $sumOut i32) (param $scratch i32)
    (local $r i32) (local $max f32)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $max (call $rowMax (local.get $z) (local.get $width)))
        (f32.store (local.get $maxOut) (local.get $max))
        (f32.store (local.get $sumOut) (call $rowExpSum (local.get $z) (local.get $width) (local.get $max) (local.get $scratch) (i32.const 0) (i32.const 0)))
        (local.set $z (i32.add (local.get $z) (i32.shl (local.get $width) (i32.const 2))))
        (local.set $maxOut (i32.add (local.get $maxOut) (i32.const 4)))
        (local.set $sumOut (i32.add (local.get $sumOut) (i32.const 4)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $each))))

  ;; out[r, j] = scale[r] · softmax(z[r])[j] for `rows` rows of `width` floats: the row's exps
  ;; kept in `out` as they are summed, then scaled in place.
  (func (export "scaledSoftmax") (param $z i32) (param $scale i32) (param $out i32) (param $rows i32) (param $width i32) (param $scratch i32)
    (local $r i32) (local $factor f32) (local $factors v128) (local $at i32) (local $vectorEnd i32) (local $end i32)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $factor (f32.div (f32.load (local.get $scale))
          (call $rowExpSum (local.get $z) (local.get $width) (call $rowMax (local.get $z) (local.get $width)) (local.get $scratch) (i32.const 1) (local.get $out))))
        (local.set $factors (f32x4.splat (local.get $factor)))
        (local.set $at (local.get $out))
        (local.set $end (i32.add (local.get $out) (i32.shl (local.get $width) (i32.const 2))))
        (local.set $vectorEnd (i32.sub (local.get $end) (i32.shl (i32.and (local.get $width) (i32.const 3)) (i32.const 2))))
        (block $vectors_done
          (loop $vectors
            (br_if $vectors_done (i32.ge_u (local.get $at) (local.get $vectorEnd)))
            (v128.store align=4 (local.get $at) (f32x4.mul (local.get $factors) (v128.load align=4 (local.get $at))))
            (local.set $at (i32.add (local.get $at) (i32.const 16)))
            (br $vectors)))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $at) (local.get $end)))
            (f32.store (local.get $at) (f32.mul (local.get $factor) (f32.load (local.get $at))))
            (local.set $at (i32.add (local.get $at) (i32.const 4)))
            (br $tail)))
        (local.set $z (i32.add (local.get $z) (i32.shl (local.get $width) (i32.const 2))))
        (local.set $out (local.get $end))
        (local.set $scale (i32.add (local.get $scale) (i32.const 4)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $each))))
)
