import { TestScheduler } from 'rxjs/testing'
import { describe, expect, it } from 'vitest'
import type { MigrationEvent } from '../../src/pipeline/events.js'
import { initialState } from '../../src/pipeline/state.js'
import { summarize } from '../../src/pipeline/summarize.js'

describe('summarize', () => {
  it('lets events through and follows the final state with a summary', () => {
    const scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))
    const state = {
      ...initialState(),
      startedAt: 0,
      artifacts: [
        {
          key: 'volumes/0.tar',
          kind: 'volume' as const,
          size: 10,
          sha256: 'a'.repeat(64),
          encoding: 'tar' as const,
        },
        {
          key: 'volumes/1.tar',
          kind: 'volume' as const,
          size: 5,
          sha256: 'b'.repeat(64),
          encoding: 'tar' as const,
        },
      ],
      warnings: [{ stage: 'inspect', message: 'bind mount at /x is not copied' }],
      backupUrl: 'file:///staging/web-1',
    }
    const values: Record<string, MigrationEvent> = {
      w: { type: 'warning', stage: 'inspect', message: 'bind mount at /x is not copied' },
      s: { type: 'state', state },
    }
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold<MigrationEvent>('w-s---|', values)
      const summary = expect.objectContaining({
        type: 'summary',
        backupUrl: 'file:///staging/web-1',
        backupKept: true,
        bytes: 15,
        warnings: ['bind mount at /x is not copied'],
      })
      expectObservable(source.pipe(summarize())).toBe('w-(sS)|', { ...values, S: summary })
    })
  })
})
