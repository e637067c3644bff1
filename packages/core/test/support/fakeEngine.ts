import type { EngineClient } from '../../src/engine/client.js'

/** How a {@link fakeEngine} behaves. */
export interface FakeEngineOptions {
  /** Calls whose action matches fail with `engine gone`. */
  readonly failing?: RegExp
  /** Calls whose action matches never settle. */
  readonly hanging?: RegExp
  /** Containers that run, by id or name. */
  readonly running?: ReadonlySet<string>
}

/**
 * A stand-in for an engine, for the pure logic of undo and rollback: it does nothing but
 * log each call's action (what a real engine would do is tested end to end).
 *
 * @param url - its URL.
 * @param log - where each call's action goes, in order.
 * @param options - which calls fail or hang, which containers run.
 * @return the fake.
 */
export function fakeEngine(
  url: string,
  log: string[],
  options: FakeEngineOptions = {},
): EngineClient {
  const call = async (action: string) => {
    if (options.hanging?.test(action)) return new Promise<never>(() => {})
    if (options.failing?.test(action)) throw new Error('engine gone')
    log.push(action)
  }
  const fake = {
    url,
    docker: {},
    call,
    removeContainer: (id: string) => call(`remove container ${id}`),
    startContainer: (id: string) => call(`start container ${id}`),
    inspectContainer: async (ref: string) => {
      await call(`inspect container ${ref}`)
      return {
        Id: ref,
        Image: 'sha256:image',
        State: { Running: options.running?.has(ref) ?? false },
      }
    },
  }
  return fake as unknown as EngineClient
}
