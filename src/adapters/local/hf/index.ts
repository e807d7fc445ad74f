/**
 * Hugging Face causal language models in TensorFlow.js: config.json decoded into an
 * architecture, safetensors weights loaded under their Hugging Face names, and the forward
 * pass, loss and greedy decoding of Llama, Qwen2, Qwen3, Mistral and GPT-2 as transformers
 * computes them.
 */
export {
  decodeHfArchitecture,
  type HfArchitecture,
  type HfArchitectureName,
  hfArchitectureNames,
  HfConfigError,
  type HfGpt2Architecture,
  type HfLlamaArchitecture,
  hfLlamaFamily,
  type HfLlamaFamilyName,
  type HfRopeScaling
} from "./hf-architecture.js"
export { hfGreedy, hfLogits, hfLoss, hfStep } from "./hf-forward.js"
export { hfWeightSpecs, HfWeightsError, type HfTensorValues, type HfWeightSpec, loadHfWeights } from "./hf-weights.js"
export { ropeInverseFrequencies } from "./hf-rope.js"
