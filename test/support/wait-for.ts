/**
 * Polls `probe` every `everyMs` until it resolves with a value (a probe that throws counts as
 * not yet), and resolves with it; fails naming `what` after `timeoutMs`.
 */
export const waitFor = async <A>(what: string, timeoutMs: number, probe: () => Promise<A | undefined>, everyMs = 100): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  while (true) {
    const found = await probe().catch(() => undefined)
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}
