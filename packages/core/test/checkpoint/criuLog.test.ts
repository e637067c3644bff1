import { describe, expect, it } from 'vitest'
import { checkpointNameFor } from '../../src/stages/checkpoint/checkpointFiles.js'
import { criuLogPathIn, explainCriuFailure } from '../../src/stages/checkpoint/criuLog.js'

// What Docker 20.10 answered here (engine messages as EngineClient.call words them).
const TASK = '/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby/3d60fb7f7751'
const DUMP_FAILED =
  'engine unix:///run/docker.sock: checkpoint container 3d60fb7f7751 as c1 failed: HTTP 500: ' +
  'Cannot checkpoint container web: runc did not terminate successfully: exit status 1: ' +
  `criu failed: type NOTIFY errno 0 path= ${TASK}/criu-dump.log: unknown`
const RESTORE_FAILED =
  'engine unix:///run/b.sock: start container bd1d63326778 from checkpoint c1 failed: HTTP 500: ' +
  'OCI runtime restore failed: criu failed: type NOTIFY errno 0\n' +
  `log file: ${TASK}/work/restore.log: unknown`

/** A CRIU 4.2.1 dump log, cut down to its kind of lines. */
function dumpLog(...errors: string[]): string {
  return [
    '(00.000000) CRIU run id = 79ccaca2-7442-465c-8567-854af8809666',
    '(00.000000) Would overwrite RPC settings with values from /etc/criu/runc.conf',
    '(00.000086) Version: 4.2.1 (gitid 0)',
    "(00.100894) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted",
    '(00.100902) Running pre-dump scripts',
    ...errors,
    '(00.108111) Error (criu/cr-dump.c:1545): Dump files (pid: 20229) failed with -1',
    '(00.160177) Error (criu/cr-dump.c:1975): Dumping FAILED.',
  ].join('\n')
}

describe('criuLogPathIn', () => {
  it('finds the log a failed checkpoint names', () => {
    expect(criuLogPathIn(DUMP_FAILED)).toBe(`${TASK}/criu-dump.log`)
  })

  it('finds the log a failed restore names', () => {
    expect(criuLogPathIn(RESTORE_FAILED)).toBe(`${TASK}/work/restore.log`)
  })

  it('finds nothing in other errors', () => {
    expect(criuLogPathIn('container is not running')).toBeUndefined()
  })
})

describe('explainCriuFailure', () => {
  it('recognises an established TCP connection', () => {
    const log = dumpLog(
      '(00.070860) Error (criu/sk-inet.c:200): inet: Connected TCP socket, consider using --tcp-established option.',
    )
    expect(explainCriuFailure(DUMP_FAILED, log)).toEqual({
      cause: 'tcp-established',
      summary: 'a process of the container has an established TCP connection',
      version: '4.2.1',
      logPath: `${TASK}/criu-dump.log`,
    })
  })

  it('names a device held open', () => {
    const log = dumpLog(
      "(00.108099) Error (criu/files-ext.c:94): Can't dump file 3 of that type [20600] (chr 10:229)",
    )
    expect(explainCriuFailure(DUMP_FAILED, log)).toMatchObject({
      cause: 'device',
      summary:
        'a process of the container holds a character device (10:229) open as file descriptor 3, which CRIU cannot save',
    })
  })

  it('recognises a host where CRIU may not read a non-root process’s limits', () => {
    // As CRIU 4.2.1 logged it here, for busybox running as 65534 on an engine without
    // CAP_SYS_RESOURCE.
    const log = dumpLog(
      "(00.096887) Error (criu/cr-dump.c:389): Can't get rlimit 0: Operation not permitted",
      '(00.096890) Error (criu/cr-dump.c:1584): Dump core (pid: 25479) failed with -1',
    )
    expect(explainCriuFailure(DUMP_FAILED, log)).toMatchObject({
      cause: 'non-root',
      summary: expect.stringContaining('lacks CAP_SYS_RESOURCE'),
    })
  })

  it('recognises CRIU missing from the runtime’s PATH', () => {
    const message =
      'engine unix:///run/docker.sock: checkpoint container web as c1 failed: HTTP 500: ' +
      'Cannot checkpoint container web: runc did not terminate successfully: exit status 1: ' +
      'criu failed: exec: "criu": executable file not found in $PATH: unknown'
    expect(explainCriuFailure(message, undefined).cause).toBe('criu-missing')
  })

  it('quotes CRIU’s own errors otherwise, without the harmless and the consequential ones', () => {
    const log = dumpLog(
      '(00.1) Error (criu/mount.c:1): mnt: Mount 42 ./proc/fs has unsupported type fuse',
      '(00.2) Error (criu/mount.c:2): mnt: Dumping mounts failed',
    )
    expect(explainCriuFailure(DUMP_FAILED, log)).toMatchObject({
      cause: 'other',
      summary:
        'CRIU says: Error (criu/mount.c:1): mnt: Mount 42 ./proc/fs has unsupported type fuse | ' +
        'Error (criu/mount.c:2): mnt: Dumping mounts failed',
    })
  })

  it('says so when the log is gone, and keeps only the engine’s reason', () => {
    expect(explainCriuFailure(RESTORE_FAILED, undefined)).toEqual({
      cause: 'other',
      summary:
        'OCI runtime restore failed: criu failed: type NOTIFY errno 0 (CRIU’s log is gone: the engine removes it with the failed task)',
      logPath: `${TASK}/work/restore.log`,
    })
  })
})

describe('checkpointNameFor', () => {
  it('makes a name Docker accepts from any backup id', () => {
    expect(checkpointNameFor('web-20261125T101500Z-3f9a')).toBe(
      'transship-web-20261125T101500Z-3f9a',
    )
    expect(checkpointNameFor('_odd name/x')).toMatch(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/)
  })
})
