const PREFIX = '[transship] '

/**
 * The one error class transship throws: a message prefixed with `[transship]`, a stable
 * `code` for programs to branch on, and the underlying failure as `cause`.
 *
 * ## Example
 * ```ts
 * try {
 *   await engine.inspectContainer('db')
 * } catch (error) {
 *   if (error instanceof TransshipError && error.code === 'ENGINE_NOT_FOUND') {
 *     console.error('no such container')
 *   }
 * }
 * ```
 */
export class TransshipError extends Error {
  /** A stable, upper-case identifier of the kind of failure, e.g. `ENGINE_UNREACHABLE`. */
  readonly code: string

  /**
   * @param code - stable identifier of the kind of failure.
   * @param message - what happened, without the `[transship]` prefix (it is added).
   * @param options - `cause`: the underlying error, kept for diagnosis.
   */
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(PREFIX + message, options)
    this.name = 'TransshipError'
    this.code = code
  }
}

/**
 * The message of any thrown value, for composing a higher-level message: without the
 * `[transship]` prefix, so that it appears once, at the front.
 *
 * @param error - anything that was thrown.
 * @return the error's message, or its string form.
 */
export function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return error instanceof TransshipError ? message.slice(PREFIX.length) : message
}
