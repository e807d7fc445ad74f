;; GELU, tanh approximation (GPT-2's), and its gradient, four float32 lanes at a time, over the
;; memory of tfjs-wasm's heap (imported, so tensors are read and written in place). tfjs-wasm's
;; own tanh is scalar libm, a GELU written with its kernels runs nine of them forward, and in
;; JavaScript the tanh alone cost about 11 ns an element.
;;
;;   u = c·(x + 0.044715·x³), c = √(2/π);  y = x/2 · (1 + tanh u)
;;   dy/dx = (1 + tanh u)/2 + x/2 · (1 − tanh² u) · c·(1 + 3·0.044715·x²)
;;
;; tanh u = sign(u)·(1 − e)/(1 + e) with e = exp(−2|u|), |u| capped at 20 (tanh is 1 in float32
;; well before). exp(y) = 2^k·exp(r) with k = round(y/ln2) and r = y − k·ln2 (ln2 in two parts,
;; so r keeps its precision), exp(r) by its Taylor series to r⁷ (|r| ≤ 0.35: error below 1e-8),
;; and 2^k made from its exponent bits. The gradient computes tanh u again: a second output of
;; the forward kernel would cost more, as tfjs fills the gradient of an unused output with
;; zeros. Both exports handle `count` elements, a multiple of 4; pointers are byte offsets.
(module
  (import "env" "memory" (memory 1))

  (func $tanh (param $u v128) (result v128)
    (local $y v128) (local $k v128) (local $r v128) (local $p v128) (local $e v128)
    ;; y = −min(2|u|, 40)
    (local.set $y (f32x4.neg (f32x4.min (f32x4.mul (f32x4.abs (local.get $u)) (v128.const f32x4 2 2 2 2)) (v128.const f32x4 40 40 40 40))))
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
    ;; e = exp(r)·2^k, 2^k built as the float with biased exponent k + 127.
    (local.set $e (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (v128.const i32x4 127 127 127 127)) (i32.const 23))))
    ;; (1 − e)/(1 + e) is ≥ 0; u's sign bit makes it tanh u.
    (v128.or
      (f32x4.div (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $e)) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $e)))
      (v128.and (local.get $u) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))

  ;; u = c·(x + 0.044715·x³), the argument of tanh.
  (func $argument (param $v v128) (result v128)
    (f32x4.mul (v128.const f32x4 0.797884561 0.797884561 0.797884561 0.797884561)
      (f32x4.add (local.get $v)
        (f32x4.mul (v128.const f32x4 0.044715 0.044715 0.044715 0.044715)
          (f32x4.mul (local.get $v) (f32x4.mul (local.get $v) (local.get $v)))))))

  ;; y[i] = gelu(x[i]).
  (func (export "geluForward") (param $x i32) (param $y i32) (param $count i32)
    (local $end i32) (local $v v128) (local $tanh v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $v (v128.load align=4 (local.get $x)))
        (local.set $tanh (call $tanh (call $argument (local.get $v))))
        (v128.store align=4 (local.get $y)
          (f32x4.mul (f32x4.mul (v128.const f32x4 0.5 0.5 0.5 0.5) (local.get $v)) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $tanh))))
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
)
