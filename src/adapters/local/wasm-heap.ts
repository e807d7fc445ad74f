// sous's own WebAssembly kernels (kernels/*.wat) work on tfjs-wasm's heap: each module imports
// the backend's memory, so tensors are read and written in place, by their byte offsets. One,
// AdamW's, works on JavaScript arrays and has a memory of its own (see `ownMemoryKernel`).

// The WebAssembly API used here (the project's TypeScript libraries do not declare it).
declare const WebAssembly: {
  readonly Module: new (bytes: Uint8Array) => object
  readonly Instance: new (module: object, imports: object) => { readonly exports: object }
}

/** What the kernels use of the wasm backend beyond its public API: its memory and where a tensor lies in it. */
interface WasmInternals {
  readonly wasm: { readonly asm: { readonly memory: object } }
  readonly dataIdMap: { get(dataId: object): { readonly memoryOffset: number } | undefined }
}

/** A kernel module compiled from its base64 bytes, as scripts/write-wasm-kernels.js writes them. */
const compile = (base64: string): object => new WebAssembly.Module(Buffer.from(base64, "base64"))

/**
 * The exports of a kernel module (`base64`, as scripts/write-wasm-kernels.js writes it)
 * instantiated over a wasm backend's heap: compiled on first use, instantiated once per heap.
 */
export const heapKernels = <Exports>(base64: string): (backend: unknown) => Exports => {
  let compiled: object | undefined
  const instances = new WeakMap<object, Exports>()
  return (backend) => {
    const memory = (backend as WasmInternals).wasm.asm.memory
    let exports = instances.get(memory)
    if (exports === undefined) {
      compiled ??= compile(base64)
      exports = new WebAssembly.Instance(compiled, { env: { memory } }).exports as Exports
      instances.set(memory, exports)
    }
    return exports
  }
}

/** The byte offset of a tensor's values in the wasm backend's heap. */
export const heapOffset = (backend: unknown, dataId: object): number => {
  const data = (backend as WasmInternals).dataIdMap.get(dataId)
  if (data === undefined) throw new Error("a tensor is not in the wasm backend's heap")
  return data.memoryOffset
}

/**
 * The exports of a kernel module (`base64`) that declares its own memory and imports nothing:
 * compiled and instantiated once per thread, on first use.
 */
export const ownMemoryKernel = <Exports>(base64: string): () => Exports => {
  let exports: Exports | undefined
  return () => (exports ??= new WebAssembly.Instance(compile(base64), {}).exports as Exports)
}
