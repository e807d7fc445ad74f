;; One AdamW update over arrays in this module's own memory (not tfjs-wasm's heap: the moments
;; live in JavaScript memory, see adamw.ts, and pass through here a chunk at a time).
;;
;; For i < n, with every value widened to float64 and rounded to float32 where it is stored:
;;   g = grad[i] * clip
;;   m[i] = beta1 * m[i] + (1 - beta1) * g
;;   v[i] = beta2 * v[i] + ((1 - beta2) * g) * g
;;   out[i] = param[i] * decay - (stepSize * m[i]) / (sqrt(v[i]) / sqrtBiasCorrection2 + eps)
;; where m[i] and v[i] on the last line are the stored (rounded) values. These are the
;; operations, in the order, of adamWStep's former JavaScript loop, and float64 arithmetic and
;; square root round exactly in both, so the results are the same bits; two lanes at a time
;; take half the time of its scalar divisions and square roots.
;;
;; It also answers $squares plus the sum of grad[i]^2 for i < n, each square and each addition in
;; float64, one element after another (the order of a scalar loop, so the same bits): with no
;; clipping, the global gradient norm comes from this pass instead of one of its own. The chain
;; of additions overlaps the divisions and square roots of the update.
;;
;; Arrays are byte offsets. Elements go two at a time: an odd n also computes the element past
;; the end, from whatever the caller's scratch holds there, and stores it there; its square
;; counts too, so the caller puts a zero there (adding +0 changes no sum of squares).
(module
  (memory (export "memory") 3)
  (func (export "adamW")
    (param $n i32) (param $grad i32) (param $m i32) (param $v i32) (param $param i32) (param $out i32)
    (param $clip f64) (param $beta1 f64) (param $beta2 f64) (param $stepSize f64)
    (param $sqrtBiasCorrection2 f64) (param $decay f64) (param $eps f64) (param $squares f64)
    (result f64)
    (local $at i32) (local $end i32)
    (local $raw v128) (local $square v128) (local $g v128) (local $newM v128) (local $newV v128)
    (local $clipV v128) (local $beta1V v128) (local $rest1 v128) (local $beta2V v128) (local $rest2 v128)
    (local $stepV v128) (local $correctionV v128) (local $decayV v128) (local $epsV v128)
    (local.set $clipV (f64x2.splat (local.get $clip)))
    (local.set $beta1V (f64x2.splat (local.get $beta1)))
    (local.set $rest1 (f64x2.splat (f64.sub (f64.const 1) (local.get $beta1))))
    (local.set $beta2V (f64x2.splat (local.get $beta2)))
    (local.set $rest2 (f64x2.splat (f64.sub (f64.const 1) (local.get $beta2))))
    (local.set $stepV (f64x2.splat (local.get $stepSize)))
    (local.set $correctionV (f64x2.splat (local.get $sqrtBiasCorrection2)))
    (local.set $decayV (f64x2.splat (local.get $decay)))
    (local.set $epsV (f64x2.splat (local.get $eps)))
    ;; Byte offset past the last pair.
    (local.set $end (i32.shl (i32.and (i32.add (local.get $n) (i32.const 1)) (i32.const -2)) (i32.const 2)))
    (local.set $at (i32.const 0))
    (block $done
      (loop $pairs
        (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $raw (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $grad) (local.get $at)))))
        (local.set $square (f64x2.mul (local.get $raw) (local.get $raw)))
        (local.set $squares (f64.add (local.get $squares) (f64x2.extract_lane 0 (local.get $square))))
        (local.set $squares (f64.add (local.get $squares) (f64x2.extract_lane 1 (local.get $square))))
        (local.set $g (f64x2.mul (local.get $raw) (local.get $clipV)))
        (local.set $newM (f32x4.demote_f64x2_zero
          (f64x2.add
            (f64x2.mul (local.get $beta1V) (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $m) (local.get $at)))))
            (f64x2.mul (local.get $rest1) (local.get $g)))))
        (local.set $newV (f32x4.demote_f64x2_zero
          (f64x2.add
            (f64x2.mul (local.get $beta2V) (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $v) (local.get $at)))))
            (f64x2.mul (f64x2.mul (local.get $rest2) (local.get $g)) (local.get $g)))))
        (v128.store64_lane 0 (i32.add (local.get $m) (local.get $at)) (local.get $newM))
        (v128.store64_lane 0 (i32.add (local.get $v) (local.get $at)) (local.get $newV))
        (v128.store64_lane 0 (i32.add (local.get $out) (local.get $at))
          (f32x4.demote_f64x2_zero
            (f64x2.sub
              (f64x2.mul (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $param) (local.get $at)))) (local.get $decayV))
              (f64x2.div
                (f64x2.mul (local.get $stepV) (f64x2.promote_low_f32x4 (local.get $newM)))
                (f64x2.add (f64x2.div (f64x2.sqrt (f64x2.promote_low_f32x4 (local.get $newV))) (local.get $correctionV)) (local.get $epsV))))))
        (local.set $at (i32.add (local.get $at) (i32.const 8)))
        (br $pairs)))
    (local.get $squares))
)
