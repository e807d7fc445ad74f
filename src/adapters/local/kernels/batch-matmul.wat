;; Batched float32 matrix product over the memory of tfjs-wasm's heap (imported, so tensors are
;; read and written in place). tfjs-wasm sends a product to XNNPACK only when it is one
;; untransposed 2-D matrix pair; attention's [batch, heads, t, t] products ran on its scalar
;; loop. This one is 128-bit SIMD: four float32 columns per vector, sixteen per pass.
;;
;; out[t, i, j] = sum over p of a[t*aBatch + i*aRow + p*aCol] * b[t*bBatch + p*n + j]
;;
;; for t < batch, i < m, j < n, p < k. Strides are in elements; `a` may be read transposed
;; through them, `b` is row-major with n columns, `out` is [batch, m, n] row-major. Pointers
;; are byte offsets. Each sum runs over p in order, in float32, with separate multiply and
;; add, in every path (16, 4 and 1 column at a time), so every element rounds the same way.
(module
  (import "env" "memory" (memory 1))
  (func (export "batchMatMul")
    (param $a i32) (param $b i32) (param $out i32)
    (param $batch i32) (param $m i32) (param $k i32) (param $n i32)
    (param $aBatch i32) (param $aRow i32) (param $aCol i32) (param $bBatch i32)
    (local $t i32) (local $i i32) (local $j i32) (local $p i32)
    (local $aMatrix i32) (local $bMatrix i32) (local $aLine i32)
    (local $ap i32) (local $bp i32) (local $op i32) (local $bRowBytes i32)
    (local $s v128) (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128)
    (local $sum f32)
    ;; Strides to bytes.
    (local.set $aBatch (i32.shl (local.get $aBatch) (i32.const 2)))
    (local.set $aRow (i32.shl (local.get $aRow) (i32.const 2)))
    (local.set $aCol (i32.shl (local.get $aCol) (i32.const 2)))
    (local.set $bBatch (i32.shl (local.get $bBatch) (i32.const 2)))
    (local.set $bRowBytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $op (local.get $out))
    (local.set $aMatrix (local.get $a))
    (local.set $bMatrix (local.get $b))
    (local.set $t (i32.const 0))
    (block $batches_done
      (loop $batches
        (br_if $batches_done (i32.ge_u (local.get $t) (local.get $batch)))
        (local.set $aLine (local.get $aMatrix))
        (local.set $i (i32.const 0))
        (block $rows_done
          (loop $rows
            (br_if $rows_done (i32.ge_u (local.get $i) (local.get $m)))
            (local.set $j (i32.const 0))
            ;; Sixteen columns at a time: four independent sums hide the adds' latency.
            (block $wide_done
              (loop $wide
                (br_if $wide_done (i32.gt_u (i32.add (local.get $j) (i32.const 16)) (local.get $n)))
                (local.set $acc0 (v128.const i32x4 0 0 0 0))
                (local.set $acc1 (v128.const i32x4 0 0 0 0))
                (local.set $acc2 (v128.const i32x4 0 0 0 0))
                (local.set $acc3 (v128.const i32x4 0 0 0 0))
                (local.set $ap (local.get $aLine))
                (local.set $bp (i32.add (local.get $bMatrix) (i32.shl (local.get $j) (i32.const 2))))
                (local.set $p (i32.const 0))
                (block $wide_sum_done
                  (loop $wide_sum
                    (br_if $wide_sum_done (i32.ge_u (local.get $p) (local.get $k)))
                    (local.set $s (f32x4.splat (f32.load (local.get $ap))))
                    (local.set $acc0 (f32x4.add (local.get $acc0) (f32x4.mul (local.get $s) (v128.load offset=0 align=4 (local.get $bp)))))
                    (local.set $acc1 (f32x4.add (local.get $acc1) (f32x4.mul (local.get $s) (v128.load offset=16 align=4 (local.get $bp)))))
                    (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (local.get $s) (v128.load offset=32 align=4 (local.get $bp)))))
                    (local.set $acc3 (f32x4.add (local.get $acc3) (f32x4.mul (local.get $s) (v128.load offset=48 align=4 (local.get $bp)))))
                    (local.set $ap (i32.add (local.get $ap) (local.get $aCol)))
                    (local.set $bp (i32.add (local.get $bp) (local.get $bRowBytes)))
                    (local.set $p (i32.add (local.get $p) (i32.const 1)))
                    (br $wide_sum)))
                (v128.store offset=0 align=4 (local.get $op) (local.get $acc0))
                (v128.store offset=16 align=4 (local.get $op) (local.get $acc1))
                (v128.store offset=32 align=4 (local.get $op) (local.get $acc2))
                (v128.store offset=48 align=4 (local.get $op) (local.get $acc3))
                (local.set $op (i32.add (local.get $op) (i32.const 64)))
                (local.set $j (i32.add (local.get $j) (i32.const 16)))
                (br $wide)))
            ;; Then four at a time.
            (block $narrow_done
              (loop $narrow
                (br_if $narrow_done (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
                (local.set $acc0 (v128.const i32x4 0 0 0 0))
                (local.set $ap (local.get $aLine))
                (local.set $bp (i32.add (local.get $bMatrix) (i32.shl (local.get $j) (i32.const 2))))
                (local.set $p (i32.const 0))
                (block $narrow_sum_done
                  (loop $narrow_sum
                    (br_if $narrow_sum_done (i32.ge_u (local.get $p) (local.get $k)))
                    (local.set $acc0 (f32x4.add (local.get $acc0)
                      (f32x4.mul (f32x4.splat (f32.load (local.get $ap))) (v128.load align=4 (local.get $bp)))))
                    (local.set $ap (i32.add (local.get $ap) (local.get $aCol)))
                    (local.set $bp (i32.add (local.get $bp) (local.get $bRowBytes)))
                    (local.set $p (i32.add (local.get $p) (i32.const 1)))
                    (br $narrow_sum)))
                (v128.store align=4 (local.get $op) (local.get $acc0))
                (local.set $op (i32.add (local.get $op) (i32.const 16)))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br $narrow)))
            ;; Then the last columns one by one.
            (block $single_done
              (loop $single
                (br_if $single_done (i32.ge_u (local.get $j) (local.get $n)))
                (local.set $sum (f32.const 0))
                (local.set $ap (local.get $aLine))
                (local.set $bp (i32.add (local.get $bMatrix) (i32.shl (local.get $j) (i32.const 2))))
                (local.set $p (i32.const 0))
                (block $single_sum_done
                  (loop $single_sum
                    (br_if $single_sum_done (i32.ge_u (local.get $p) (local.get $k)))
                    (local.set $sum (f32.add (local.get $sum) (f32.mul (f32.load (local.get $ap)) (f32.load (local.get $bp)))))
                    (local.set $ap (i32.add (local.get $ap) (local.get $aCol)))
                    (local.set $bp (i32.add (local.get $bp) (local.get $bRowBytes)))
                    (local.set $p (i32.add (local.get $p) (i32.const 1)))
                    (br $single_sum)))
                (f32.store (local.get $op) (local.get $sum))
                (local.set $op (i32.add (local.get $op) (i32.const 4)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $single)))
            (local.set $aLine (i32.add (local.get $aLine) (local.get $aRow)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $rows)))
        (local.set $aMatrix (i32.add (local.get $aMatrix) (local.get $aBatch)))
        (local.set $bMatrix (i32.add (local.get $bMatrix) (local.get $bBatch)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $batches))))
)
