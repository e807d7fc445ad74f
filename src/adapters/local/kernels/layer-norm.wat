;; Layer norm over the last axis, both ways, over the memory of tfjs-wasm's heap (imported, so
;; tensors are read and written in place), four float32 lanes at a time. Rows are `width`
;; floats, a multiple of 4; the caller takes other widths elsewhere. A row's mean and variance
;; are sums over its vectors lane by lane, the four lanes then added; the variance is taken
;; around the mean (two passes), as torch does. Pointers are byte offsets.
;;
;; Forward: y = (x − mean)·rstd·γ + β, rstd = 1/√(variance + eps).
;; Backward, with x̂ = (x − mean)·rstd and g = dy·γ: dx = rstd·(g − mean(g) − x̂·mean(g·x̂));
;; γ's gradient sums dy·x̂ over the rows and β's sums dy, into `dgamma` and `dbeta`, which
;; start at zero.
(module
  (import "env" "memory" (memory 1))

  (func $lanes (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; The mean of the row at `row`, `bytes` long.
  (func $mean (param $row i32) (param $bytes i32) (result f32)
    (local $j i32) (local $sums v128)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $j) (local.get $bytes)))
        (local.set $sums (f32x4.add (local.get $sums) (v128.load align=4 (i32.add (local.get $row) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $each)))
    (f32.div (call $lanes (local.get $sums)) (f32.convert_i32_u (i32.shr_u (local.get $bytes) (i32.const 2)))))

  ;; 1/√(variance + eps) of the row at `row`, `bytes` long, around its `mean`.
  (func $rstd (param $row i32) (param $bytes i32) (param $mean f32) (param $eps f32) (result f32)
    (local $j i32) (local $sums v128) (local $shift v128) (local $centred v128)
    (local.set $shift (f32x4.splat (local.get $mean)))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $j) (local.get $bytes)))
        (local.set $centred (f32x4.sub (v128.load align=4 (i32.add (local.get $row) (local.get $j))) (local.get $shift)))
        (local.set $sums (f32x4.add (local.get $sums) (f32x4.mul (local.get $centred) (local.get $centred))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $each)))
    (f32.div (f32.const 1) (f32.sqrt (f32.add
      (f32.div (call $lanes (local.get $sums)) (f32.convert_i32_u (i32.shr_u (local.get $bytes) (i32.const 2))))
      (local.get $eps)))))

  (func (export "layerNormForward") (param $x i32) (param $gamma i32) (param $beta i32) (param $y i32) (param $rows i32) (param $width i32) (param $eps f32)
    (local $bytes i32) (local $end i32) (local $j i32) (local $mean f32) (local $shift v128) (local $scale v128)
    (local.set $bytes (i32.shl (local.get $width) (i32.const 2)))
    (local.set $end (i32.add (local.get $x) (i32.mul (local.get $rows) (local.get $bytes))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $mean (call $mean (local.get $x) (local.get $bytes)))
        (local.set $shift (f32x4.splat (local.get $mean)))
        (local.set $scale (f32x4.splat (call $rstd (local.get $x) (local.get $bytes) (local.get $mean) (local.get $eps))))
        (local.set $j (i32.const 0))
        (block $row_done
          (loop $row
            (br_if $row_done (i32.ge_u (local.get $j) (local.get $bytes)))
            (v128.store align=4 (i32.add (local.get $y) (local.get $j)) (f32x4.add
              (f32x4.mul
                (f32x4.mul (f32x4.sub (v128.load align=4 (i32.add (local.get $x) (local.get $j))) (local.get $shift)) (local.get $scale))
                (v128.load align=4 (i32.add (local.get $gamma) (local.get $j))))
              (v128.load align=4 (i32.add (local.get $beta) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $row)))
        (local.set $x (i32.add (local.get $x) (local.get $bytes)))
        (local.set $y (i32.add (local.get $y) (local.get $bytes)))
        (br $each))))

  (func (export "layerNormBackward") (param $x i32) (param $gamma i32) (param $dy i32) (param $dx i32) (param $dgamma i32) (param $dbeta i32)
    (param $rows i32) (param $width i32) (param $eps f32)
    (local $bytes i32) (local $end i32) (local $j i32) (local $mean f32) (local $rstd f32) (local $shift v128) (local $scale v128)
    (local $d v128) (local $normed v128) (local $scaled v128) (local $sumG v128) (local $sumGx v128) (local $meanG v128) (local $meanGx v128)
    (local $count f32)
    (local.set $bytes (i32.shl (local.get $width) (i32.const 2)))
    (local.set $count (f32.convert_i32_u (local.get $width)))
    (local.set $end (i32.add (local.get $x) (i32.mul (local.get $rows) (local.get $bytes))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $mean (call $mean (local.get $x) (local.get $bytes)))
        (local.set $rstd (call $rstd (local.get $x) (local.get $bytes) (local.get $mean) (local.get $eps)))
        (local.set $shift (f32x4.splat (local.get $mean)))
        (local.set $scale (f32x4.splat (local.get $rstd)))
        (local.set $sumG (v128.const i32x4 0 0 0 0))
        (local.set $sumGx (v128.const i32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $sums_done
          (loop $sums
            (br_if $sums_done (i32.ge_u (local.get $j) (local.get $bytes)))
            (local.set $d (v128.load align=4 (i32.add (local.get $dy) (local.get $j))))
            (local.set $normed (f32x4.mul (f32x4.sub (v128.load align=4 (i32.add (local.get $x) (local.get $j))) (local.get $shift)) (local.get $scale)))
            (local.set $scaled (f32x4.mul (local.get $d) (v128.load align=4 (i32.add (local.get $gamma) (local.get $j)))))
            (local.set $sumG (f32x4.add (local.get $sumG) (local.get $scaled)))
            (local.set $sumGx (f32x4.add (local.get $sumGx) (f32x4.mul (local.get $scaled) (local.get $normed))))
            (v128.store align=4 (i32.add (local.get $dgamma) (local.get $j))
              (f32x4.add (v128.load align=4 (i32.add (local.get $dgamma) (local.get $j))) (f32x4.mul (local.get $d) (local.get $normed))))
            (v128.store align=4 (i32.add (local.get $dbeta) (local.get $j))
              (f32x4.add (v128.load align=4 (i32.add (local.get $dbeta) (local.get $j))) (local.get $d)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $sums)))
        (local.set $meanG (f32x4.splat (f32.div (call $lanes (local.get $sumG)) (local.get $count))))
        (local.set $meanGx (f32x4.splat (f32.div (call $lanes (local.get $sumGx)) (local.get $count))))
        (local.set $j (i32.const 0))
        (block $row_done
          (loop $row
            (br_if $row_done (i32.ge_u (local.get $j) (local.get $bytes)))
            (local.set $normed (f32x4.mul (f32x4.sub (v128.load align=4 (i32.add (local.get $x) (local.get $j))) (local.get $shift)) (local.get $scale)))
            (v128.store align=4 (i32.add (local.get $dx) (local.get $j)) (f32x4.mul (local.get $scale) (f32x4.sub
              (f32x4.sub
                (f32x4.mul (v128.load align=4 (i32.add (local.get $dy) (local.get $j))) (v128.load align=4 (i32.add (local.get $gamma) (local.get $j))))
                (local.get $meanG))
              (f32x4.mul (local.get $normed) (local.get $meanGx)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $row)))
        (local.set $x (i32.add (local.get $x) (local.get $bytes)))
        (local.set $dy (i32.add (local.get $dy) (local.get $bytes)))
        (local.set $dx (i32.add (local.get $dx) (local.get $bytes)))
        (br $each))))
)
