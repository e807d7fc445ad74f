/** Writing HTML text safely: escaped text, and JSON and code that cannot end their element early. */

const entities: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }

/** `text` as HTML text or a quoted attribute value. */
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (char) => entities[char]!)

/**
 * `value` as JSON for a `<script type="application/json">` element: every `<` is written
 * `\u003c` (the same string to JSON.parse), so no `</script>` or `<!--` in the data can end
 * or confuse the element. U+2028 and U+2029 are escaped for older parsers.
 */
export const jsonForScript = (value: unknown): string =>
  JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029")

/**
 * `code` (a script or style sheet) to inline in the `element` it goes in; throws on text
 * that would end that element early or open a comment in it, which no code of ours holds.
 */
export const inlineCode = (code: string, element: "script" | "style"): string => {
  if (new RegExp(`</${element}|<!--`, "i").test(code)) throw new Error(`cannot inline this code into <${element}>: it holds </${element} or <!--`)
  return code
}
