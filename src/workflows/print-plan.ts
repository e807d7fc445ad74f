import { Duration } from "effect"
import type { StageNode, Workflow, WorkflowNode } from "./ir.js"

const INDENT = "  "

const keyList = (keys: ReadonlyArray<{ readonly name: string }>): string =>
  keys.length === 0 ? "-" : keys.map((key) => key.name).join(", ")

const stageLine = (node: StageNode<unknown, unknown>): string => {
  const { stage } = node
  const notes = [
    ...(stage.advancesStep === true ? ["advances step"] : []),
    ...(node.retry === undefined ? [] : ["retry"]),
    ...(node.timeout === undefined ? [] : [`timeout ${Duration.format(node.timeout)}`])
  ]
  const suffix = notes.length === 0 ? "" : ` (${notes.join(", ")})`
  return `stage ${stage.name} — ${stage.description} [${keyList(stage.reads)} → ${keyList(stage.writes)}]${suffix}`
}

const render = (node: WorkflowNode, depth: number, lines: Array<string>): void => {
  const pad = INDENT.repeat(depth)
  switch (node._tag) {
    case "Stage":
      lines.push(pad + stageLine(node))
      return
    case "Sequence":
      lines.push(pad + (node.name === undefined ? "sequence" : `sequence ${node.name}`))
      for (const child of node.children) render(child, depth + 1, lines)
      return
    case "Loop": {
      const { times } = node
      const count = typeof times === "number" ? `${times}` : `${times.label} (from ${times.key.name})`
      lines.push(`${pad}loop ${node.name} × ${count}`)
      render(node.body, depth + 1, lines)
      return
    }
    case "When":
      lines.push(`${pad}when ${node.label}`)
      render(node.body, depth + 1, lines)
      return
    case "Finally":
      lines.push(`${pad}try`)
      render(node.body, depth + 1, lines)
      lines.push(`${pad}finally`)
      render(node.finalizer, depth + 1, lines)
      return
  }
}

/**
 * Renders a workflow as indented text, one node per line: loops with their count, `when`
 * with its label, stages with their description, `reads → writes` and options. This is
 * what `sous plan` prints. No trailing newline.
 */
export const printPlan = (workflow: Workflow): string => {
  const lines = [`workflow ${workflow.name}`, `${INDENT}initial: ${keyList(workflow.initial)}`]
  render(workflow.root, 1, lines)
  return lines.join("\n")
}
