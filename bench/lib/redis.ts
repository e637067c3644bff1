import type { BenchContext } from './benchmark.js'
import { docker } from './docker.js'
import { runProcess } from './process.js'

const MiB = 1024 * 1024

/**
 * Waits for the redis server in a running container to answer, then fills its memory with
 * `keys` keys of 1 MiB each, each a distinct byte repeated, so that every page is touched
 * (no RDB, no AOF: the keys exist only in memory).
 */
export async function fillRedisMemory(
  context: BenchContext,
  host: string,
  container: string,
  keys: number,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    context.signal.throwIfAborted()
    const ping = await runProcess('docker', ['-H', host, 'exec', container, 'redis-cli', 'ping'])
    if (ping.stdout.trim() === 'PONG') break
    if (attempt > 50) throw new Error(`redis in ${container} does not answer: ${ping.stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const script = `for i = 1, ${keys} do redis.call('SET', 'k' .. i, string.rep(string.char(i % 256), ${MiB})) end return ${keys}`
  await docker(context, host, ['exec', container, 'redis-cli', 'eval', script, '0'])
}

/** Whether the redis server in a container holds the `keys` keys {@link fillRedisMemory} set. */
export async function redisKeptMemory(
  context: BenchContext,
  host: string,
  container: string,
  keys: number,
): Promise<boolean> {
  const size = await docker(context, host, ['exec', container, 'redis-cli', 'dbsize'])
  return Number(size.trim()) === keys
}
