import { describeTransportConformance } from '@transship/core/testing'
import { createScpTransport } from '../src/index.js'
import { noSftpOptions, remoteDirectory, sshOptions } from './support.js'

// The default (`auto`): data through commands, the rest over SFTP.
describeTransportConformance('scp (auto: SFTP and commands)', () => ({
  transport: createScpTransport(sshOptions({ path: remoteDirectory() })),
}))

// SFTP alone: data in pipelined SFTP requests.
describeTransportConformance('scp (SFTP only)', () => ({
  transport: createScpTransport(sshOptions({ path: remoteDirectory(), protocol: 'sftp' })),
}))

// `auto` again, on the sshd whose SFTP subsystem is off: commands for everything.
describeTransportConformance('scp (no SFTP: commands only)', () => ({
  transport: createScpTransport(noSftpOptions({ path: remoteDirectory() })),
}))
