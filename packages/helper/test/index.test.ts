import { existsSync } from 'node:fs'
import { arch } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { HELPER_SOURCE_DIR, helperBinaryPath } from '../src/index.js'
import { buildHelper } from './support.js'

describe('helperBinaryPath', () => {
  it('names the binary for the architectures Docker reports, and their Go names', () => {
    const dist = join(HELPER_SOURCE_DIR, '..', 'dist')
    expect(helperBinaryPath('x86_64')).toBe(join(dist, 'transship-helper-linux-x86_64'))
    expect(helperBinaryPath('amd64')).toBe(join(dist, 'transship-helper-linux-x86_64'))
    expect(helperBinaryPath('aarch64')).toBe(join(dist, 'transship-helper-linux-aarch64'))
    expect(helperBinaryPath('arm64')).toBe(join(dist, 'transship-helper-linux-aarch64'))
  })

  it('throws for an architecture without a build', () => {
    expect(() => helperBinaryPath('riscv64')).toThrow(/no helper binary for architecture `riscv64`/)
  })

  it('is where build.sh puts the host build, and HELPER_SOURCE_DIR holds the sources', () => {
    buildHelper()
    expect(existsSync(helperBinaryPath(arch() === 'arm64' ? 'aarch64' : 'x86_64'))).toBe(true)
    expect(existsSync(join(HELPER_SOURCE_DIR, 'main.c'))).toBe(true)
  })
})
