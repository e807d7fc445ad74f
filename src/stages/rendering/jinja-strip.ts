import type { Template } from "@huggingface/jinja"

// @huggingface/jinja (0.5.11 to 0.5.13) gives strings `strip`, `lstrip` and `rstrip` methods
// that ignore their argument and strip whitespace, where Python's (what transformers renders
// chat templates with) strip the characters given and only those. Qwen3's template writes a
// reply as `content.lstrip('\n')`: the library would drop the spaces a reply starts with.

const methods = { strip: [true, true], lstrip: [true, false], rstrip: [false, true] } as const
type Method = keyof typeof methods

// The name a rewritten call gives each method; no template spells these.
const functionName = (method: Method) => `__sous_${method}`

// Python's str.strip(chars), by code point: `chars` None (or absent) strips whitespace.
const pythonStrip = (method: Method) => (value: unknown, chars?: unknown): string => {
  if (typeof value !== "string") throw new Error(`${method}() is a string method, called on ${value === null ? "none" : typeof value}`)
  const [left, right] = methods[method]
  if (chars === undefined || chars === null) return left && right ? value.trim() : left ? value.trimStart() : value.trimEnd()
  if (typeof chars !== "string") throw new Error(`${method}() takes a string of characters, got ${typeof chars}`)
  const strip = new Set(chars)
  const points = [...value]
  let start = 0
  let end = points.length
  while (left && start < end && strip.has(points[start]!)) start++
  while (right && end > start && strip.has(points[end - 1]!)) end--
  return points.slice(start, end).join("")
}

/** The functions the calls that {@link useStripWithChars} rewrites name, to render the template with. */
export const stripFunctions: Readonly<Record<string, (value: unknown, chars?: unknown) => string>> = Object.fromEntries(
  Object.keys(methods).map((method) => [functionName(method as Method), pythonStrip(method as Method)])
)

// The parts of the library's syntax tree (its declared `ast.d.ts` fields) a call is read by.
interface Node {
  type: string
}
interface Identifier extends Node {
  value: string
}
interface MemberExpression extends Node {
  object: Node
  property: Node
  computed: boolean
}
interface CallExpression extends Node {
  callee: Node
  args: Array<Node>
}

const isNode = (value: unknown): value is Node => typeof value === "object" && value !== null && typeof (value as Node).type === "string"

// `x.strip(chars)`, `x.lstrip(chars)` or `x.rstrip(chars)`; without an argument the library's
// method already does what Python's does.
const stripCall = (node: Node): { call: CallExpression; callee: MemberExpression; method: Identifier } | undefined => {
  if (node.type !== "CallExpression") return undefined
  const call = node as CallExpression
  if (call.args.length === 0 || call.callee.type !== "MemberExpression") return undefined
  const callee = call.callee as MemberExpression
  if (callee.computed || callee.property.type !== "Identifier") return undefined
  const method = callee.property as Identifier
  return Object.hasOwn(methods, method.value) ? { call, callee, method } : undefined
}

const rewrite = (value: unknown): void => {
  if (Array.isArray(value)) {
    for (const item of value) rewrite(item)
    return
  }
  if (!isNode(value)) return
  for (const child of Object.values(value)) rewrite(child)
  const found = stripCall(value)
  if (found === undefined) return
  // `x.lstrip(chars)` becomes `__sous_lstrip(x, chars)`, reusing the method's identifier node.
  const { call, callee, method } = found
  method.value = functionName(method.value as Method)
  call.callee = method
  call.args = [callee.object, ...call.args]
}

/**
 * Makes a parsed template's `strip`, `lstrip` and `rstrip` calls with an argument strip the
 * characters given, as Python's do, by rewriting them (in place) into calls of
 * {@link stripFunctions}, which the template must then be rendered with.
 */
export const useStripWithChars = (template: Template): void => rewrite(template.parsed)
