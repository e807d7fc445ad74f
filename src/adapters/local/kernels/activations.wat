;; GELU and softmax over the memory of tfjs-wasm's heap (imported, so tensors are read and
;; written in place), four float32 lanes at a time, on one exp. tfjs-wasm's exp and tanh are
;; scalar libm, a GELU written with its kernels runs nine of them forward, and in JavaScript a
;; tanh or exp alone cost about 11 ns an element.
;;
;; exp(y), y ≤ 0: 2^k·exp(r) with k = round(y/ln2) and r = y − k·ln2 (ln2 in two parts, so r
;; keeps its precision), exp(r) by its Taylor series to r⁷ (|r| ≤ 0.35: error below 1e-8), 2^k
;; made from its exponent bits; y is capped at −87, where exp is 1.6e-38, the least normal range.
;;
;; GELU (tanh approximation, GPT-2's):
;;   u = c·(x + 0.044715·x³), c = √(2/π);  y = x/2 · (1 + tanh u)
;;   dy/dx = (1 + tanh u)/2 + x/2 · (1 − tanh² u) · c·(1 + 3·0.044715·x²)
;; with tanh u = sign(u)·(1 − e)/(1 + e), e = exp(−2|u|), |u| capped at 20 (tanh is 1 in
;; float32 well before). The gradient computes tanh u again: a second output of the forward
;; kernel would cost more, as tfjs fills the gradient of an unused output with zeros. The GELU
;; exports handle `count` elements, a multiple of 4.
;;
;; Softmax rows: a row's maximum and its sum of exp(z − max), and rows scaled by their softmax.
;; Rows need not be a multiple of 4 long, nor aligned; their last elements go one at a time
;; through the same vector arithmetic. Pointers are byte offsets.
(module
  (import "env" "memory" (memory 1))

  (func $exp (param $y v128) (result v128)
    (local $k v128) (local $r v128) (local $p v128)
    (local.set $y (f32x4.max (local.get $y) (v128.const f32x4 -87 -87 -87 -87)))
    (local.set $k (f32x4.nearest (f32x4.mul (local.get $y) (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504))))
    (local.set $r (f32x4.sub
      (f32x4.sub (local.get $y) (f32x4.mul (local.get $k) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375)))
      (f32x4.mul (local.get $k) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
    (local.set $p (v128.const f32x4 1.98412698e-4 1.98412698e-4 1.98412698e-4 1.98412698e-4))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.38888889e-3 1.38888889e-3 1.38888889e-3 1.38888889e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 8.33333333e-3 8.33333333e-3 8.33333333e-3 8.33333333e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 4.16666667e-2 4.16666667e-2 4.16666667e-2 4.16666667e-2)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.66666667e-1 1.66666667e-1 1.66666667e-1 1.66666667e-1)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0.5 0.5 0.5 0.5)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1 1 1 1)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1 1 1 1)))
    (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (v128.const i32x4 127 127 127 127)) (i32.const 23))))

  (func $tanh (param $u v128) (result v128)
    (local $e v128)
    (local.set $e (call $exp (f32x4.neg (f32x4.min (f32x4.mul (f32x4.abs (local.get $u)) (v128.const f32x4 2 2 2 2)) (v128.const f32x4 40 40 40 40)))))
    ;; (1 − e)/(1 + e) is ≥ 0; u's sign bit makes it tanh u.
    (v128.or
      (f32x4.div (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $e)) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $e)))
      (v128.and (local.get $u) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))

  ;; u = c·(x + 0.044715·x³), the argument of tanh.
  (func $argument (param $v v128) (result v128)
    (f32x4.mul (v128.const f32x4 0.797884561 0.797884561 0.797884561 0.797884561)
      (f32x4.add (local.get $v) (f32x4.mul (v128.const f32x4 0.044715 0.044715 0.044715 0.044715) (f32x4.mul (local.get $v) (f32x4.mul (local.get $v) (local.get $v)))))))

  ;; y[i] = gelu(x[i]).
  (func (export "geluForward") (param $x i32) (param $y i32) (param $count i32)
    (local $end i32) (local $v v128) (local $tanh v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $v (v128.load align=4 (local.get $x)))
        (local.set $tanh (call $tanh (call $argument (local.get $v))))
        (v128.store align=4 (local.get $y) (f32x4.mul (f32x4.mul (v128.const f32x4 0.5 0.5 0.5 0.5) (local.get $v)) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $tanh))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (br $each))))

  ;; dx[i] = dy[i] · gelu'(x[i]).
  (func (export "geluBackward") (param $x i32) (param $dy i32) (param $dx i32) (param $count i32)
    (local $end i32) (local $v v128) (local $tanh v128) (local $slope v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $v (v128.load align=4 (local.get $x)))
        (local.set $tanh (call $tanh (call $argument (local.get $v))))
        (local.set $slope (f32x4.add
          (f32x4.mul (v128.const f32x4 0.5 0.5 0.5 0.5) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $tanh)))
          (f32x4.mul
            (f32x4.mul (f32x4.mul (v128.const f32x4 0.5 0.5 0.5 0.5) (local.get $v)) (f32x4.sub (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $tanh) (local.get $tanh))))
            (f32x4.mul (v128.const f32x4 0.797884561 0.797884561 0.797884561 0.797884561) (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (v128.const f32x4 0.134145 0.134145 0.134145 0.134145) (f32x4.mul (local.get $v) (local.get $v))))))))
        (v128.store align=4 (local.get $dx) (f32x4.mul (v128.load align=4 (local.get $dy)) (local.get $slope)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
        (local.set $dx (i32.add (local.get $dx) (i32.const 16)))
        (br $each))))

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

  ;; The sum of exp(z − max) over the `width` floats z at `row`.
  (func $rowExpSum (param $row i32) (param $width i32) (param $max f32) (result f32)
    (local $end i32) (local $vectorEnd i32) (local $shift v128) (local $sums v128) (local $sum f32)
    (local.set $end (i32.add (local.get $row) (i32.shl (local.get $width) (i32.const 2))))
    (local.set $vectorEnd (i32.sub (local.get $end) (i32.shl (i32.and (local.get $width) (i32.const 3)) (i32.const 2))))
    (local.set $shift (f32x4.splat (local.get $max)))
    (local.set $sums (v128.const i32x4 0 0 0 0))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $row) (local.get $vectorEnd)))
        (local.set $sums (f32x4.add (local.get $sums) (call $exp (f32x4.sub (v128.load align=4 (local.get $row)) (local.get $shift)))))
        (local.set $row (i32.add (local.get $row) (i32.const 16)))
        (br $each)))
    (local.set $sum (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $sums)) (f32x4.extract_lane 1 (local.get $sums)))
      (f32.add (f32x4.extract_lane 2 (local.get $sums)) (f32x4.extract_lane 3 (local.get $sums)))))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $row) (local.get $end)))
        (local.set $sum (f32.add (local.get $sum)
          (f32x4.extract_lane 0 (call $exp (f32x4.sub (f32x4.splat (f32.load (local.get $row))) (local.get $shift))))))
        (local.set $row (i32.add (local.get $row) (i32.const 4)))
        (br $tail)))
    (local.get $sum))

  ;; For each of `rows` rows of `width` floats from `z`: max[r] and sum[r] = Σ exp(z − max[r]).
  (func (export "softmaxParts") (param $z i32) (param $rows i32) (param $width i32) (param $maxOut i32) (param $sumOut i32)
    (local $r i32) (local $max f32)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $max (call $rowMax (local.get $z) (local.get $width)))
        (f32.store (local.get $maxOut) (local.get $max))
        (f32.store (local.get $sumOut) (call $rowExpSum (local.get $z) (local.get $width) (local.get $max)))
        (local.set $z (i32.add (local.get $z) (i32.shl (local.get $width) (i32.const 2))))
        (local.set $maxOut (i32.add (local.get $maxOut) (i32.const 4)))
        (local.set $sumOut (i32.add (local.get $sumOut) (i32.const 4)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $each))))

  ;; out[r, j] = scale[r] · softmax(z[r])[j] for `rows` rows of `width` floats.
  (func (export "scaledSoftmax") (param $z i32) (param $scale i32) (param $out i32) (param $rows i32) (param $width i32)
    (local $r i32) (local $max f32) (local $end i32) (local $vectorEnd i32) (local $shift v128) (local $factor v128)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $max (call $rowMax (local.get $z) (local.get $width)))
        (local.set $shift (f32x4.splat (local.get $max)))
        (local.set $factor (f32x4.splat (f32.div (f32.load (local.get $scale))
          (call $rowExpSum (local.get $z) (local.get $width) (local.get $max)))))
        (local.set $end (i32.add (local.get $z) (i32.shl (local.get $width) (i32.const 2))))
        (local.set $vectorEnd (i32.sub (local.get $end) (i32.shl (i32.and (local.get $width) (i32.const 3)) (i32.const 2))))
        (block $row_done
          (loop $row
            (br_if $row_done (i32.ge_u (local.get $z) (local.get $vectorEnd)))
            (v128.store align=4 (local.get $out)
              (f32x4.mul (local.get $factor) (call $exp (f32x4.sub (v128.load align=4 (local.get $z)) (local.get $shift)))))
            (local.set $z (i32.add (local.get $z) (i32.const 16)))
            (local.set $out (i32.add (local.get $out) (i32.const 16)))
            (br $row)))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $z) (local.get $end)))
            (f32.store (local.get $out) (f32x4.extract_lane 0
              (f32x4.mul (local.get $factor) (call $exp (f32x4.sub (f32x4.splat (f32.load (local.get $z))) (local.get $shift))))))
            (local.set $z (i32.add (local.get $z) (i32.const 4)))
            (local.set $out (i32.add (local.get $out) (i32.const 4)))
            (br $tail)))
        (local.set $scale (i32.add (local.get $scale) (i32.const 4)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $each))))
)
