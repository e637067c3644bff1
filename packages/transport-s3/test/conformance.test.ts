import { describeTransportConformance } from '@transship/core/testing'
import { testTransport } from './support.js'

// Against the test environment's S3 server (s3rver): `pnpm testenv up`.
describeTransportConformance('s3', () => ({ transport: testTransport('conformance') }))

describeTransportConformance(
  's3 with the smallest parts, one at a time',
  () => ({
    transport: testTransport('conformance-parts', { partSize: 5 * 1024 * 1024, parallelism: 1 }),
  }),
  { scope: 'suite' },
)
