import { randomBytes } from 'node:crypto'
import { describeTransportConformance } from '@transship/core/testing'
import { memoryTransport } from './transport-memory.js'

// The example transport passes the suite every transport must pass.
describeTransportConformance('memory (examples/transport-memory.ts)', () => ({
  transport: memoryTransport(`mem://conformance-${randomBytes(4).toString('hex')}`),
}))
