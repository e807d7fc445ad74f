/**
 * Polls `probe` every `everyMs` until it resolves with a value (a probe that throws counts as
 * not yet), and resolves with it; fails naming `what` after `timeoutMs`, with what `context`
 * says of the state things were left in.
 */
export const waitFor = async <A>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<A | undefined>,
  everyMs = 100,
  context: () => string | Promise<string> = () => ""
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  while (true) {
    const found = await probe().catch(() => undefined)
    if (found !== undefined) return found
    if (Date.now() > deadline) {
      const said = await context()
      throw new Error(`timed out waiting for ${what}${said === "" ? "" : `\n${said}`}`)
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}
