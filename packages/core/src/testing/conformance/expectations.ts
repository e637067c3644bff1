import { setTimeout as delay } from 'node:timers/promises'
import { expect } from 'vitest'
import { TransshipError } from '../../errors.js'
import type { Transport } from '../../transport/contract.js'

/** How long a transport may take to settle a call the suite expects to end promptly. */
const PROMPTLY_MS = 10_000

/** Expects `promise` to reject with a {@link TransshipError} of `code`, and returns it. */
export async function expectTransportError(
  promise: Promise<unknown>,
  code: string | RegExp,
): Promise<TransshipError> {
  const error = await promise.then(
    () => expect.fail(`expected a rejection with ${code}, but the call succeeded`),
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(TransshipError)
  expect((error as TransshipError).code).toMatch(code)
  return error as TransshipError
}

/** Expects nothing to be stored under `key`: no stat, no get, not listed under `root`. */
export async function expectAbsent(transport: Transport, key: string, root: string) {
  expect(await transport.stat(key)).toBeUndefined()
  await expectTransportError(transport.get(key), 'TRANSPORT_NOT_FOUND')
  expect(await listKeys(transport, root)).not.toContain(key)
}

/** The keys `list(prefix)` returns, in its order. */
export async function listKeys(transport: Transport, prefix: string): Promise<string[]> {
  return (await transport.list(prefix)).map((stat) => stat.key)
}

/** `promise`, or a failure naming `what` when it does not settle promptly. */
export async function promptly<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not settle within ${PROMPTLY_MS} ms`)),
      PROMPTLY_MS,
    )
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves once `condition` holds, failing with `what` when it does not hold promptly. */
export async function eventually(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + PROMPTLY_MS
  while (!condition()) {
    if (Date.now() > deadline) expect.fail(`${what} did not happen within ${PROMPTLY_MS} ms`)
    await delay(10)
  }
}
