import * as tf from "@tensorflow/tfjs"
import { hasKernel, registerArrayKernels, runOnArrays } from "./array-kernels.js"

const gatherRowsKernel = "SousGatherRows"
const gatherRowsGradKernel = "SousGatherRowsGrad"

/** The id at `index`, checked against the `rows` a table has (a bad id would read or write outside it). */
const rowId = (ids: ArrayLike<number>, index: number, rows: number): number => {
  const id = ids[index]!
  if (!(id >= 0 && id < rows)) throw new Error(`row id ${id} is outside a table of ${rows} rows`)
  return id
}

// Rows `ids` of a table. tfjs-wasm's Gather took about 1.3 ms for 704 rows of 64, and it has
// no kernel for gather's gradient (sous used a one-hot product, a [vocab, rows] × [rows,
// width] matmul); here each is a copy or an add of whole rows.
const gatherRowsForward: tf.KernelFunc = ({ inputs, backend }) => {
  const { table, ids } = inputs as Record<"table" | "ids", tf.TensorInfo>
  const [rows, width] = table.shape as [number, number]
  return runOnArrays(backend, [table, ids], [[ids.shape[0]!, width]], ([values, indices], [out]) => {
    for (let i = 0; i < indices!.length; i++) {
      const from = rowId(indices!, i, rows) * width
      out!.set(values!.subarray(from, from + width), i * width)
    }
  })[0]!
}

// The table's gradient: each row of dy added into the row its id names, in order.
const gatherRowsBackward: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { ids, dy } = inputs as Record<"ids" | "dy", tf.TensorInfo>
  const rows = attrs!["rows"] as number
  const width = dy.shape[1]!
  return runOnArrays(backend, [ids, dy], [[rows, width]], ([indices, dys], [dTable]) => {
    dTable!.fill(0)
    for (let i = 0; i < indices!.length; i++) {
      const to = rowId(indices!, i, rows) * width
      for (let j = 0; j < width; j++) dTable![to + j] += dys![i * width + j]!
    }
  })[0]!
}

registerArrayKernels({ [gatherRowsKernel]: gatherRowsForward, [gatherRowsGradKernel]: gatherRowsBackward })

tf.registerGradient({
  kernelName: gatherRowsKernel,
  inputsToSave: ["table", "ids"],
  gradFunc: (dy, saved) => {
    const [table, ids] = saved as [tf.Tensor, tf.Tensor]
    return {
      table: () => tf.engine().runKernel(gatherRowsGradKernel, { ids, dy: dy as tf.Tensor }, { rows: table.shape[0]! }) as tf.Tensor,
      ids: () => tf.zerosLike(ids)
    }
  }
})

/** Rows `ids` of `table` ([n] int32 → [n, width]), the table's gradient added row by row. */
export const embedRows = (table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D =>
  hasKernel(gatherRowsKernel)
    ? tf.engine().runKernel(gatherRowsKernel, { table, ids }) as tf.Tensor2D
    : tf.gather(table, ids)
