;; Batched float32 matrix product over the memory of tfjs-wasm's heap (imported, so tensors are
;; read and written in place). tfjs-wasm sends a product to XNNPACK only when it is one
;; untransposed 2-D matrix pair, and XNNPACK first repacks the right operand, which costs as
;; much as the product when that operand is a weight that changed since the last step (every
;; training step). This kernel reads both operands where they lie, in 128-bit SIMD.
;;
;; out[t, i, j] = sum over p of a[t*aBatch + i*aRow + p*aCol] * b[t*bBatch + p*n + j]
;;
;; for t < batch, i < m, j < n, p < k. Strides are in elements; `a` may be read transposed
;; through them, `b` is row-major with n columns, `out` is [batch, m, n] row-major. Pointers
;; are byte offsets. Most of out is made in tiles of 4 rows by 8 columns, held in eight
;; registers, so each row of b is read once for four rows of a; the columns and rows past the
;; last whole tile go through $rowTail. Each sum runs over p in order, in float32, from 0 (or,
;; when $hasBias is set, from bias[j], a row of n floats at $bias), with separate multiply and
;; add, in every path, so every element rounds the same way as in XNNPACK's own kernels, which
;; start from the bias in a fused product too.
(module
  (import "env" "memory" (memory 1))
  ;; One row of out, its columns from $j to $n: sixteen at a time (four independent sums hide
  ;; the adds' latency), then four, then one.
  (func $rowTail
    (param $aLine i32) (param $bMatrix i32) (param $op i32) (param $j i32) (param $n i32) (param $k i32)
    (param $aCol i32) (param $bRowBytes i32) (param $bias i32) (param $hasBias i32)
    (local $p i32) (local $ap i32) (local $bp i32) (local $s v128)
    (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128) (local $sum f32)
    (block $wide_done
      (loop $wide
        (br_if $wide_done (i32.gt_u (i32.add (local.get $j) (i32.const 16)) (local.get $n)))
        (if (local.get $hasBias)
          (then
            (local.set $bp (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))))
            (local.set $acc0 (v128.load offset=0 align=4 (local.get $bp)))
            (local.set $acc1 (v128.load offset=16 align=4 (local.get $bp)))
            (local.set $acc2 (v128.load offset=32 align=4 (local.get $bp)))
            (local.set $acc3 (v128.load offset=48 align=4 (local.get $bp))))
          (else
            (local.set $acc0 (v128.const i32x4 0 0 0 0))
            (local.set $acc1 (v128.const i32x4 0 0 0 0))
            (local.set $acc2 (v128.const i32x4 0 0 0 0))
            (local.set $acc3 (v128.const i32x4 0 0 0 0))))
        (local.set $ap (local.get $aLine))
        (local.set $bp (i32.add (local.get $bMatrix) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $p (local.get $k))
        (block $sum_done
          (loop $sum
            (br_if $sum_done (i32.eqz (local.get $p)))
            (local.set $s (v128.load32_splat (local.get $ap)))
            (local.set $acc0 (f32x4.add (local.get $acc0) (f32x4.mul (local.get $s) (v128.load offset=0 align=4 (local.get $bp)))))
            (local.set $acc1 (f32x4.add (local.get $acc1) (f32x4.mul (local.get $s) (v128.load offset=16 align=4 (local.get $bp)))))
            (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (local.get $s) (v128.load offset=32 align=4 (local.get $bp)))))
            (local.set $acc3 (f32x4.add (local.get $acc3) (f32x4.mul (local.get $s) (v128.load offset=48 align=4 (local.get $bp)))))
            (local.set $ap (i32.add (local.get $ap) (local.get $aCol)))
            (local.set $bp (i32.add (local.get $bp) (local.get $bRowBytes)))
            (local.set $p (i32.sub (local.get $p) (i32.const 1)))
            (br $sum)))
        (v128.store offset=0 align=4 (local.get $op) (local.get $acc0))
        (v128.store offset=16 align=4 (local.get $op) (local.get $acc1))
        (v128.store offset=32 align=4 (local.get $op) (local.get $acc2))
        (v128.store offset=48 align=4 (local.get $op) (local.get $acc3))
        (local.set $op (i32.add (local.get $op) (i32.const 64)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $wide)))
    (block $narrow_done
      (loop $narrow
        (br_if $narrow_done (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
        (local.set $acc0 (if (result v128) (local.get $hasBias)
          (then (v128.load align=4 (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2)))))
          (else (v128.const i32x4 0 0 0 0))))
        (local.set $ap (local.get $aLine))
        (local.set $bp (i32.add (local.get $bMatrix) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $p (local.get $k))
        (block $sum_done
          (loop $sum
            (br_if $sum_done (i32.eqz (local.get $p)))
            (local.set $acc0 (f32x4.add (local.get $acc0)
              (f32x4.mul (v128.load32_splat (local.get $ap)) (v128.load align=4 (local.get $bp)))))
            (local.set $ap (i32.add (local.get $ap) (local.get $aCol)))
            (local.set $bp (i32.add (local.get $bp) (local.get $bRowBytes)))
            (local.set $p (i32.sub (local.get $p) (i32.const 1)))
            (br $sum)))
        (v128.store align=4 (local.get $op) (local.get $acc0))
        (local.set $op (i32.add (local.get $op) (i32.const 16)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $narrow)))
    (block $single_done
      (loop $single
        (br_if $single_done (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $sum (if (result f32) (local.get $hasBias)
          (then (f32.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2)))))
          (else (f32.const 0))))
        (local.set $ap (local.get $aLine))
        (local.set $bp (i32.add (local.get $bMatrix) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $p (local.get $k))
        (block $sum_done
          (loop $sum
            (br_if $sum_done (i32.eqz (local.get $p)))
            (local.set $sum (f32.add (local.get $sum) (f32.mul (f32.load (local.get $ap)) (f32.load (local.get $bp)))))
            (local.set $ap (i32.add (local.get $ap) (local.get $aCol)))
            (local.set $bp (i32.add (local.get $bp) (local.get $bRowBytes)))
            (local.set $p (i32.sub (local.get $p) (i32.const 1)))
            (br $sum)))
        (f32.store (local.get $op) (local.get $sum))
        (local.set $op (i32.add (local.get $op) (i32.const 4)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $single))))

  ;; Where the sums of columns j..j+3 (and j+4..j+7) start: the bias there, or zero.
  (func $startLow (param $bias i32) (param $hasBias i32) (param $j i32) (result v128)
    (if (result v128) (local.get $hasBias)
      (then (v128.load align=4 (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2)))))
      (else (v128.const i32x4 0 0 0 0))))
  (func $startHigh (param $bias i32) (param $hasBias i32) (param $j i32) (result v128)
    (call $startLow (local.get $bias) (local.get $hasBias) (i32.add (local.get $j) (i32.const 4))))

  (func (export "batchMatMul")
    (param $a i32) (param $b i32) (param $out i32)
    (param $batch i32) (param $m i32) (param $k i32) (param $n i32)
    (param $aBatch i32) (param $aRow i32) (param $aCol i32) (param $bBatch i32)
    (param $bias i32) (param $hasBias i32)
    (local $t i32) (local $i i32) (local $j i32) (local $p i32)
    (local $block i32) (local $blockEnd i32)
    (local $aMatrix i32) (local $bMatrix i32) (local $outMatrix i32) (local $aLine i32) (local $outLine i32)
    (local $ap i32) (local $bp i32) (local $op i32) (local $bRowBytes i32)
    (local $aRow2 i32) (local $aRow3 i32) (local $n8 i32) (local $m4 i32)
    (local $b0 v128) (local $b1 v128) (local $s v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    ;; Strides to bytes.
    (local.set $aBatch (i32.shl (local.get $aBatch) (i32.const 2)))
    (local.set $aRow (i32.shl (local.get $aRow) (i32.const 2)))
    (local.set $aCol (i32.shl (local.get $aCol) (i32.const 2)))
    (local.set $bBatch (i32.shl (local.get $bBatch) (i32.const 2)))
    (local.set $bRowBytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $aRow2 (i32.shl (local.get $aRow) (i32.const 1)))
    (local.set $aRow3 (i32.add (local.get $aRow2) (local.get $aRow)))
    (local.set $n8 (i32.and (local.get $n) (i32.const -8)))
    (local.set $m4 (i32.and (local.get $m) (i32.const -4)))
    (local.set $aMatrix (local.get $a))
    (local.set $bMatrix (local.get $b))
    (local.set $outMatrix (local.get $out))
    (local.set $t (i32.const 0))
    (block $batches_done
      (loop $batches
        (br_if $batches_done (i32.ge_u (local.get $t) (local.get $batch)))
        ;; Blocks of 64 columns: b's block (k rows of 256 bytes) stays in cache while every row
        ;; of a passes over it, and four rows of a stay in cache across the block's tiles.
        (local.set $block (i32.const 0))
        (block $blocks_done
          (loop $blocks
            (br_if $blocks_done (i32.ge_u (local.get $block) (local.get $n8)))
            (local.set $blockEnd (i32.add (local.get $block) (i32.const 64)))
            (if (i32.gt_u (local.get $blockEnd) (local.get $n8)) (then (local.set $blockEnd (local.get $n8))))
            (local.set $aLine (local.get $aMatrix))
            (local.set $outLine (local.get $outMatrix))
            (local.set $i (i32.const 0))
            ;; Four rows at a time: a 4x8 tile of out in eight registers, b read once per four rows.
            (block $quads_done
              (loop $quads
                (br_if $quads_done (i32.ge_u (local.get $i) (local.get $m4)))
                (local.set $j (local.get $block))
                (block $tiles_done
                  (loop $tiles
                    (br_if $tiles_done (i32.ge_u (local.get $j) (local.get $blockEnd)))
                    (local.set $c00 (call $startLow (local.get $bias) (local.get $hasBias) (local.get $j)))
                    (local.set $c01 (call $startHigh (local.get $bias) (local.get $hasBias) (local.get $j)))
                    (local.set $c10 (local.get $c00)) (local.set $c11 (local.get $c01))
                    (local.set $c20 (local.get $c00)) (local.set $c21 (local.get $c01))
                    (local.set $c30 (local.get $c00)) (local.set $c31 (local.get $c01))
                    (local.set $ap (local.get $aLine))
                    (local.set $bp (i32.add (local.get $bMatrix) (i32.shl (local.get $j) (i32.const 2))))
                    (local.set $p (local.get $k))
                    (block $sum_done
                      (loop $sum
                        (br_if $sum_done (i32.eqz (local.get $p)))
                        (local.set $b0 (v128.load offset=0 align=4 (local.get $bp)))
                        (local.set $b1 (v128.load offset=16 align=4 (local.get $bp)))
                        (local.set $s (v128.load32_splat (local.get $ap)))
                        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (local.get $b0))))
                        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $s) (local.get $b1))))
                        (local.set $s (v128.load32_splat (i32.add (local.get $ap) (local.get $aRow))))
                        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (local.get $b0))))
                        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $s) (local.get $b1))))
                        (local.set $s (v128.load32_splat (i32.add (local.get $ap) (local.get $aRow2))))
                        (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $s) (local.get $b0))))
                        (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $s) (local.get $b1))))
                        (local.set $s (v128.load32_splat (i32.add (local.get $ap) (local.get $aRow3))))
                        (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $s) (local.get $b0))))
                        (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $s) (local.get $b1))))
                        (local.set $ap (i32.add (local.get $ap) (local.get $aCol)))
                        (local.set $bp (i32.add (local.get $bp) (local.get $bRowBytes)))
                        (local.set $p (i32.sub (local.get $p) (i32.const 1)))
                        (br $sum)))
                    (local.set $op (i32.add (local.get $outLine) (i32.shl (local.get $j) (i32.const 2))))
                    (v128.store offset=0 align=4 (local.get $op) (local.get $c00))
                    (v128.store offset=16 align=4 (local.get $op) (local.get $c01))
                    (local.set $op (i32.add (local.get $op) (local.get $bRowBytes)))
                    (v128.store offset=0 align=4 (local.get $op) (local.get $c10))
                    (v128.store offset=16 align=4 (local.get $op) (local.get $c11))
                    (local.set $op (i32.add (local.get $op) (local.get $bRowBytes)))
                    (v128.store offset=0 align=4 (local.get $op) (local.get $c20))
                    (v128.store offset=16 align=4 (local.get $op) (local.get $c21))
                    (local.set $op (i32.add (local.get $op) (local.get $bRowBytes)))
                    (v128.store offset=0 align=4 (local.get $op) (local.get $c30))
                    (v128.store offset=16 align=4 (local.get $op) (local.get $c31))
                    (local.set $j (i32.add (local.get $j) (i32.const 8)))
                    (br $tiles)))
                (local.set $aLine (i32.add (local.get $aLine) (i32.shl (local.get $aRow) (i32.const 2))))
                (local.set $outLine (i32.add (local.get $outLine) (i32.shl (local.get $bRowBytes) (i32.const 2))))
                (local.set $i (i32.add (local.get $i) (i32.const 4)))
                (br $quads)))
            ;; The rows past the last group of four, one row by eight columns at a time.
            (block $rows_done
              (loop $rows
                (br_if $rows_done (i32.ge_u (local.get $i) (local.get $m)))
                (local.set $j (local.get $block))
                (block $pairs_done
                  (loop $pairs
                    (br_if $pairs_done (i32.ge_u (local.get $j) (local.get $blockEnd)))
                    (local.set $c00 (call $startLow (local.get $bias) (local.get $hasBias) (local.get $j)))
                    (local.set $c01 (call $startHigh (local.get $bias) (local.get $hasBias) (local.get $j)))
                    (local.set $ap (local.get $aLine))
                    (local.set $bp (i32.add (local.get $bMatrix) (i32.shl (local.get $j) (i32.const 2))))
                    (local.set $p (local.get $k))
                    (block $sum_done
                      (loop $sum
                        (br_if $sum_done (i32.eqz (local.get $p)))
                        (local.set $s (v128.load32_splat (local.get $ap)))
                        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (v128.load offset=0 align=4 (local.get $bp)))))
                        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $s) (v128.load offset=16 align=4 (local.get $bp)))))
                        (local.set $ap (i32.add (local.get $ap) (local.get $aCol)))
                        (local.set $bp (i32.add (local.get $bp) (local.get $bRowBytes)))
                        (local.set $p (i32.sub (local.get $p) (i32.const 1)))
                        (br $sum)))
                    (local.set $op (i32.add (local.get $outLine) (i32.shl (local.get $j) (i32.const 2))))
                    (v128.store offset=0 align=4 (local.get $op) (local.get $c00))
                    (v128.store offset=16 align=4 (local.get $op) (local.get $c01))
                    (local.set $j (i32.add (local.get $j) (i32.const 8)))
                    (br $pairs)))
                (local.set $aLine (i32.add (local.get $aLine) (local.get $aRow)))
                (local.set $outLine (i32.add (local.get $outLine) (local.get $bRowBytes)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $rows)))
            (local.set $block (local.get $blockEnd))
            (br $blocks)))
        ;; The columns past the last whole tile, row by row.
        (if (i32.lt_u (local.get $n8) (local.get $n))
          (then
            (local.set $aLine (local.get $aMatrix))
            (local.set $outLine (local.get $outMatrix))
            (local.set $i (i32.const 0))
            (block $tails_done
              (loop $tails
                (br_if $tails_done (i32.ge_u (local.get $i) (local.get $m)))
                (call $rowTail (local.get $aLine) (local.get $bMatrix) (i32.add (local.get $outLine) (i32.shl (local.get $n8) (i32.const 2)))
                  (local.get $n8) (local.get $n) (local.get $k) (local.get $aCol) (local.get $bRowBytes) (local.get $bias) (local.get $hasBias))
                (local.set $aLine (i32.add (local.get $aLine) (local.get $aRow)))
                (local.set $outLine (i32.add (local.get $outLine) (local.get $bRowBytes)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $tails)))))
        (local.set $aMatrix (i32.add (local.get $aMatrix) (local.get $aBatch)))
        (local.set $bMatrix (i32.add (local.get $bMatrix) (local.get $bBatch)))
        (local.set $outMatrix (i32.add (local.get $outMatrix) (i32.mul (local.get $m) (local.get $bRowBytes))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $batches))))
)
