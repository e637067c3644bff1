/**
 * Runs `work` on every item, at most `concurrent` at a time, in order of the items. On the
 * first failure the others are aborted (through the signal passed to `work`) and awaited,
 * so that nothing is still running when the failure is reported and undone.
 *
 * @param items - what to work on.
 * @param concurrent - how many at a time (at least 1).
 * @param signal - aborts everything.
 * @param work - the work for one item.
 * @return the results, in the order of the items.
 */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  concurrent: number,
  signal: AbortSignal,
  work: (item: T, signal: AbortSignal) => Promise<R>,
): Promise<R[]> {
  const controller = new AbortController()
  const abort = () => controller.abort(signal.reason)
  signal.addEventListener('abort', abort, { once: true })
  const results: R[] = new Array(items.length)
  let next = 0
  let failure: { error: unknown } | undefined
  const worker = async () => {
    while (next < items.length && !failure) {
      const index = next++
      try {
        results[index] = await work(items[index] as T, controller.signal)
      } catch (error) {
        failure ??= { error }
        controller.abort(error)
      }
    }
  }
  try {
    await Promise.all(
      Array.from({ length: Math.max(1, Math.min(concurrent, items.length)) }, worker),
    )
  } finally {
    signal.removeEventListener('abort', abort)
  }
  if (failure) throw failure.error
  return results
}
