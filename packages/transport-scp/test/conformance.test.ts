import { describeTransportConformance } from '@transship/core/testing'
import { createScpTransport } from '../src/index.js'
import { noSftpOptions, remoteDirectory, sshOptions } from './support.js'

// The same protocol choice (`auto`) both times: SFTP where the server has it, and commands
// over exec on the sshd whose SFTP subsystem is off.
describeTransportConformance('scp (SFTP)', () => ({
  transport: createScpTransport(sshOptions({ path: remoteDirectory() })),
}))

describeTransportConformance('scp (no SFTP: commands over exec)', () => ({
  transport: createScpTransport(noSftpOptions({ path: remoteDirectory() })),
}))
