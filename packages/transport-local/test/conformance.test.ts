import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describeTransportConformance } from '@transship/core/testing'
import { createLocalTransport } from '../src/index.js'

describeTransportConformance('local', async () => {
  const base = await mkdtemp(join(tmpdir(), 'transship-local-'))
  return {
    transport: createLocalTransport({ base }),
    teardown: () => rm(base, { recursive: true, force: true }),
  }
})
