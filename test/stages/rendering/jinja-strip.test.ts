import { Template } from "@huggingface/jinja"
import { describe, expect, it } from "vitest"
import { stripFunctions, useStripWithChars } from "../../../src/stages/rendering/jinja-strip.js"

const render = (source: string, variables: Record<string, unknown> = {}) => {
  const template = new Template(source)
  useStripWithChars(template)
  return template.render({ ...stripFunctions, ...variables })
}

describe("useStripWithChars", () => {
  // Each expected value is what Python's str method gives (checked with python3).
  it("strips the characters given, and only those, as Python's strip, lstrip and rstrip do", () => {
    const text = "\n\n  x = 1 \n\n"
    expect(render("{{ text.lstrip('\\n') | tojson }}", { text })).toBe(JSON.stringify("  x = 1 \n\n"))
    expect(render("{{ text.rstrip('\\n') | tojson }}", { text })).toBe(JSON.stringify("\n\n  x = 1 "))
    expect(render("{{ text.strip('\\n') | tojson }}", { text })).toBe(JSON.stringify("  x = 1 "))
    expect(render("{{ 'xyabcyx'.strip('xy') }}")).toBe("abc")
    expect(render("{{ '🍣a🍣'.strip('🍣') }}")).toBe("a")
  })

  it("strips whitespace without an argument or with none, and rewrites chained and nested calls", () => {
    expect(render("{{ '\\n a \\n'.strip() | tojson }}")).toBe(JSON.stringify("a"))
    expect(render("{{ '\\n a \\n'.lstrip(none) | tojson }}")).toBe(JSON.stringify("a \n"))
    expect(render("{{ 'x<think>y\\n\\nz'.split('<think>')[-1].lstrip('y').lstrip('\\n') }}")).toBe("z")
    expect(render("{{ ('..' + 'a..'.rstrip('.')).strip('.') }}")).toBe("a")
  })

  it("fails clearly when the method is called on something other than a string", () => {
    expect(() => render("{{ number.strip('x') }}", { number: 3 })).toThrow("strip() is a string method, called on number")
  })
})
