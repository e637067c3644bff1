import { appendFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Ledger } from '../../src/ledger/ledger.js'
import { ledgerDirectory, readLedgers } from '../../src/ledger/ledgerFile.js'
import { undo } from '../../src/ledger/undoSteps.js'
import { fakeEngine } from '../support/fakeEngine.js'

let stateDir: string
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'transship-ledger-'))
})
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true })
})

const b = fakeEngine('ssh://deploy:hunter2@b.example/run/docker.sock', [])
const durable = () => Ledger.durable({ stateDir, command: 'migrate web' })

describe('a durable ledger', () => {
  it('has each step on the disk when record returns (write-ahead), and no password', async () => {
    const ledger = await durable()
    await ledger.record(undo.removeVolume(b, 'data'))
    const [content] = await readLedgers(ledgerDirectory(stateDir))
    expect(content?.begin).toMatchObject({
      id: ledger.id,
      command: 'migrate web',
      pid: process.pid,
    })
    expect(content?.lines.at(-1)).toMatchObject({
      type: 'step',
      step: {
        kind: 'remove-volume',
        engine: 'ssh://deploy@b.example/run/docker.sock',
        name: 'data',
      },
    })
    const text = await readFile(content?.path as string, 'utf8')
    expect(text).not.toContain('hunter2')
    await ledger.close()
  })

  it('is read back as it was left: outstanding steps in order, replaced and settled ones out, committed', async () => {
    const ledger = await durable()
    await ledger.record(undo.removeContainer(b, { name: 'web' }, 'target'))
    await ledger.record(undo.removeVolume(b, 'data'))
    await ledger.record(undo.removeVolume(b, 'logs'))
    await ledger.record(undo.removeContainer(b, { id: 'abc123' }, 'target'))
    await ledger.settle('volume logs on ssh://deploy@b.example/run/docker.sock', 'undone')
    await ledger.commit()
    await ledger.close()
    const [content] = await readLedgers(ledgerDirectory(stateDir))
    const again = await Ledger.reopen(content as NonNullable<typeof content>)
    expect(again.id).toBe(ledger.id)
    expect(again.committed).toBe(true)
    expect(again.entries.map((entry) => entry.step)).toEqual([
      { kind: 'remove-volume', engine: 'ssh://deploy@b.example/run/docker.sock', name: 'data' },
      { kind: 'remove-container', engine: 'ssh://deploy@b.example/run/docker.sock', id: 'abc123' },
    ])
    await again.close()
  })

  it('leaves out a last line cut short by a crash', async () => {
    const ledger = await durable()
    await ledger.record(undo.removeVolume(b, 'data'))
    await ledger.close()
    const [content] = await readLedgers(ledgerDirectory(stateDir))
    await appendFile(content?.path as string, '{"type":"step","key":"volu')
    const [read] = await readLedgers(ledgerDirectory(stateDir))
    expect(read?.lines).toHaveLength(2)
  })

  it('names the file and line of a line that is not one of a ledger', async () => {
    const ledger = await durable()
    await ledger.close()
    const [content] = await readLedgers(ledgerDirectory(stateDir))
    await appendFile(content?.path as string, '{"type":"step","key":"x"}\n')
    await expect(readLedgers(ledgerDirectory(stateDir))).rejects.toThrow(
      `${content?.path}, line 2: not a line of a transship ledger`,
    )
  })

  it('is removed once it ends', async () => {
    const ledger = await durable()
    await ledger.record(undo.removeVolume(b, 'data'))
    await ledger.end('completed')
    expect(await readdir(ledgerDirectory(stateDir))).toEqual([])
    expect(ledger.entries).toEqual([])
  })

  it('finds no ledger where the state directory does not exist', async () => {
    expect(await readLedgers(join(stateDir, 'nothing-here'))).toEqual([])
  })
})
