import { describeTransportConformance } from '@transship/core/testing'
import { createScpTransport } from '../src/index.js'
import { onHostB, quote, remoteDirectory, sshOptions } from './support.js'

for (const protocol of ['sftp', 'exec'] as const) {
  describeTransportConformance(`scp over ${protocol}`, () => {
    const path = remoteDirectory()
    return {
      transport: createScpTransport(sshOptions({ path, protocol })),
      teardown: async () => {
        await onHostB(`rm -rf ${quote(path)}`)
      },
    }
  })
}
