import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** What `pnpm testenv up` writes to .testenv/env, and every test may rely on. */
const KEYS = [
  'TESTENV_HOST_A',
  'TESTENV_HOST_B',
  'TESTENV_HOST_A_DATA_ROOT',
  'TESTENV_HOST_B_DATA_ROOT',
  /** B's network namespace (`ip netns exec NAME …`): tests cut its traffic there. */
  'TESTENV_HOST_B_NETNS',
  'TESTENV_HOST_C',
  'TESTENV_HOST_C_DATA_ROOT',
  /** D: a current Docker engine (26.1), beside the 20.10 ones. */
  'TESTENV_HOST_D',
  'TESTENV_HOST_D_DATA_ROOT',
  'TESTENV_HOST_D_ADDR',
  /** D's network namespace, as TESTENV_HOST_B_NETNS. */
  'TESTENV_HOST_D_NETNS',
  'TESTENV_HOST_B_SSH',
  'TESTENV_IMAGE_BUSYBOX',
  'TESTENV_IMAGE_REDIS',
  'TESTENV_SSH_HOST',
  'TESTENV_SSH_PORT',
  'TESTENV_SSH_USER',
  'TESTENV_SSH_KEY',
  'TESTENV_SSH_KNOWN_HOSTS',
  'TESTENV_SSH_CONFIG',
  'TESTENV_SSH_ALIAS',
  'TESTENV_SSH_KEY_ENCRYPTED',
  'TESTENV_SSH_KEY_PASSPHRASE',
  'TESTENV_SSH_NOSFTP_PORT',
  'TESTENV_SSH_NOSFTP_ALIAS',
  'TESTENV_SSH_TEST_USER',
  'TESTENV_SSH_SFTP_ONLY_USER',
  'TESTENV_SSH_SMALL_FS',
  'TESTENV_SSH_SMALL_FS_BYTES',
  'TESTENV_S3_ENDPOINT',
  'TESTENV_S3_BUCKET',
  'TESTENV_S3_ACCESS_KEY_ID',
  'TESTENV_S3_SECRET_ACCESS_KEY',
  'TESTENV_S3_REGION',
  'TESTENV_VOLUME_PLUGIN',
] as const

export type TestEnv = Readonly<Record<(typeof KEYS)[number], string>>

const ENV_FILE = fileURLToPath(new URL('../../.testenv/env', import.meta.url))

let cached: TestEnv | undefined

/**
 * The running test environment's endpoints, read from .testenv/env.
 *
 * Integration tests never skip: without the environment this throws, and the test fails
 * with a message that says how to start it.
 */
export function testEnv(): TestEnv {
  if (cached) return cached
  let text: string
  try {
    text = readFileSync(ENV_FILE, 'utf8')
  } catch (cause) {
    throw new Error(
      `No test environment: ${ENV_FILE} is missing. Run \`pnpm testenv up\` (as root).`,
      {
        cause,
      },
    )
  }
  const values = new Map<string, string>()
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line)
    if (match?.[1] !== undefined && match[2] !== undefined) values.set(match[1], match[2])
  }
  const missing = KEYS.filter((key) => !values.get(key))
  if (missing.length > 0) {
    throw new Error(`${ENV_FILE} lacks ${missing.join(', ')}. Run \`pnpm testenv up\` again.`)
  }
  cached = Object.fromEntries(KEYS.map((key) => [key, values.get(key)])) as TestEnv
  return cached
}
