import { configDefaults, defineConfig } from 'vitest/config'

/**
 * The tests that need no engine, SSH or S3 server: pure logic, fakes, the local disk and
 * the helper program run on this machine. `pnpm test:unit` runs them alone, in seconds.
 */
const UNIT = [
  'packages/core/test/*/**/*.test.ts',
  'packages/core/test/{engineUrl,knownHosts,sshOptions}.test.ts',
  'packages/cli/test/barLine.test.ts',
  'packages/helper/test/**/*.test.ts',
  'packages/transport-local/test/**/*.test.ts',
  'packages/transport-s3/test/{partBuffers,partPlan,url}.test.ts',
  'examples/transport-memory.test.ts',
]

export default defineConfig({
  test: {
    // Integration tests talk to real engines, SSH and S3 servers: generous timeouts.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two Docker engines on two cores: run test files one at a time.
    fileParallelism: false,
    // The helper program the volume pre-copy runs in its containers, built from its C source.
    // A state directory of their own for the ledgers of the runs the tests start, and a
    // secret key for their backups (TRANSSHIP_KEY_FILE).
    globalSetup: [
      './test/support/buildHelper.ts',
      './test/support/stateDir.ts',
      './test/support/keyFile.ts',
    ],
    projects: [
      // They touch no shared engine: files run in parallel.
      { extends: true, test: { name: 'unit', include: UNIT, fileParallelism: true } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...UNIT],
        },
      },
    ],
  },
})
