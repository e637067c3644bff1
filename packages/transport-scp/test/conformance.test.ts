import { describeTransportConformance } from '@transship/core/testing'
import { createScpTransport } from '../src/index.js'
import { noSftpOptions, remoteDirectory, sshOptions } from './support.js'

// The default (`auto`): SFTP, and `cat` over exec for transfers from 64 MiB (none here).
describeTransportConformance('scp (auto)', () => ({
  transport: createScpTransport(sshOptions({ path: remoteDirectory() })),
}))

// `auto` with `cat` from 1 MiB: the multi-MiB artifacts start over SFTP and go on through
// `cat >>`, and are read through `cat`.
describeTransportConformance('scp (auto, commands from 1 MiB)', () => ({
  transport: createScpTransport(
    sshOptions({ path: remoteDirectory(), commandThreshold: 1024 * 1024 }),
  ),
}))

// SFTP alone: data in pipelined SFTP requests.
describeTransportConformance('scp (SFTP only)', () => ({
  transport: createScpTransport(sshOptions({ path: remoteDirectory(), protocol: 'sftp' })),
}))

// `auto` again, on the sshd whose SFTP subsystem is off: commands for everything.
describeTransportConformance('scp (no SFTP: commands only)', () => ({
  transport: createScpTransport(noSftpOptions({ path: remoteDirectory() })),
}))
