import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
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
  },
})
