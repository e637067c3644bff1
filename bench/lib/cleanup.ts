import { messageOf } from '../../packages/core/src/index.js'

interface Step {
  readonly description: string
  readonly run: () => Promise<void>
}

/**
 * A stack of undo steps: each thing a benchmark creates registers its removal right away,
 * and {@link Cleanup.run} undoes everything, newest first, going on past failures.
 */
export class Cleanup {
  readonly #steps: Step[] = []

  /**
   * Registers how to remove something just created.
   *
   * @param description - what the step removes, for failure messages.
   * @param run - the removal; it should succeed when the thing is already gone.
   */
  defer(description: string, run: () => Promise<void>): void {
    this.#steps.push({ description, run })
  }

  /**
   * Runs every registered step, newest first, and forgets them.
   *
   * @return a message for each step that failed.
   */
  async run(): Promise<string[]> {
    const problems: string[] = []
    for (let step = this.#steps.pop(); step; step = this.#steps.pop()) {
      try {
        await step.run()
      } catch (error) {
        problems.push(`${step.description}: ${messageOf(error)}`)
      }
    }
    return problems
  }
}
