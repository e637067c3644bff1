import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  formatKeyFile,
  generateKeyFile,
  keyId,
  parseKeyFile,
  readKeyFile,
  SecretKey,
} from '../../src/sealing/secretKey.js'

let scratch: string
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'transship-sealing-test-'))
})
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true })
})

describe('generateKeyFile and readKeyFile', () => {
  it('writes a new key readable by its owner only, and reads it back', async () => {
    const path = join(scratch, 'new.key')
    const secret = await generateKeyFile(path)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    const text = await readFile(path, 'utf8')
    expect(text).toMatch(/\nTRANSSHIP-SECRET-KEY-1 [A-Za-z0-9_-]{43}\n$/)
    expect(text).toContain(`Key id ${keyId(secret)}.`)
    const read = await readKeyFile(path)
    expect(read.secret.bytes.equals(secret.bytes)).toBe(true)
    expect(read).toMatchObject({ path, mode: 0o600, readableByOthers: false })
  })

  it('never overwrites a file: the second generate fails and leaves the first key', async () => {
    const path = join(scratch, 'twice.key')
    const first = await generateKeyFile(path)
    const before = await readFile(path)
    const error = await generateKeyFile(path).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ name: 'TransshipError', code: 'KEY_FILE_EXISTS' })
    expect((error as Error).message).toContain(path)
    expect((await readFile(path)).equals(before)).toBe(true)
    expect((await readKeyFile(path)).secret.id).toBe(first.id)
  })

  it('does not overwrite any existing file, whatever it holds', async () => {
    const path = join(scratch, 'notes.txt')
    await writeFile(path, 'precious')
    await expect(generateKeyFile(path)).rejects.toMatchObject({ code: 'KEY_FILE_EXISTS' })
    expect(await readFile(path, 'utf8')).toBe('precious')
  })

  it('fails when the file cannot be created', async () => {
    const path = join(scratch, 'no-such-dir', 'x.key')
    await expect(generateKeyFile(path)).rejects.toMatchObject({
      code: 'KEY_FILE_UNWRITABLE',
      message: expect.stringContaining(path),
    })
  })

  it('says when the group or others may read the file', async () => {
    const path = join(scratch, 'shared.key')
    await generateKeyFile(path)
    await chmod(path, 0o640)
    expect(await readKeyFile(path)).toMatchObject({ mode: 0o640, readableByOthers: true })
    await chmod(path, 0o604)
    expect(await readKeyFile(path)).toMatchObject({ readableByOthers: true })
    await chmod(path, 0o400)
    expect(await readKeyFile(path)).toMatchObject({ readableByOthers: false })
  })

  it('fails on a missing file, naming it', async () => {
    const path = join(scratch, 'missing.key')
    await expect(readKeyFile(path)).rejects.toMatchObject({
      code: 'KEY_FILE_NOT_FOUND',
      message: expect.stringContaining(path),
    })
  })

  it('refuses a directory and a large file', async () => {
    const directory = join(scratch, 'a-directory')
    await mkdir(directory)
    await expect(readKeyFile(directory)).rejects.toMatchObject({ code: 'KEY_FILE_INVALID' })
    const large = join(scratch, 'large.key')
    await writeFile(large, `${formatKeyFile(SecretKey.generate())}${'#'.repeat(5000)}\n`)
    await expect(readKeyFile(large)).rejects.toMatchObject({ code: 'KEY_FILE_INVALID' })
  })

  const valid = `TRANSSHIP-SECRET-KEY-1 ${Buffer.alloc(32, 7).toString('base64url')}`
  it.each([
    ['empty', ''],
    ['only comments', '# a key\n'],
    ['an age key', 'AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZ\n'],
    ['a short key', `${valid.slice(0, -1)}\n`],
    ['a long key', `${valid}A\n`],
    ['standard base64', `${valid.slice(0, -2)}+/\n`],
    ['a non-canonical last character', `${valid.slice(0, -1)}d\n`],
    ['two keys', `${valid}\n${valid}\n`],
    ['a key and text', `${valid}\nhello\n`],
    ['another version', `${valid.replace('KEY-1', 'KEY-2')}\n`],
  ])('refuses %s, naming the file but not quoting it', async (_case, text) => {
    const path = join(scratch, `invalid-${_case.replaceAll(' ', '-')}.key`)
    await writeFile(path, text, { mode: 0o600 })
    const error = await readKeyFile(path).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ name: 'TransshipError', code: 'KEY_FILE_INVALID' })
    expect((error as Error).message).toContain(path)
    expect((error as Error).message).not.toContain(valid.slice(23, 40))
  })

  it('accepts comments, blank lines, CRLF and surrounding spaces', () => {
    const secret = parseKeyFile(`# comment\r\n\r\n  ${valid}  \r\n`, 'k')
    expect(secret.bytes.equals(Buffer.alloc(32, 7))).toBe(true)
    expect(parseKeyFile(formatKeyFile(secret), 'k').id).toBe(secret.id)
  })
})

describe('SecretKey and keyId', () => {
  it('is 32 bytes, and refuses other lengths', () => {
    expect(SecretKey.generate().bytes.length).toBe(32)
    expect(() => SecretKey.fromBytes(Buffer.alloc(31))).toThrow(
      expect.objectContaining({ code: 'KEY_INVALID' }),
    )
  })

  it('has a short stable fingerprint, different for another key', () => {
    const secret = SecretKey.fromBytes(Buffer.alloc(32, 1))
    expect(keyId(secret)).toMatch(/^[0-9a-f]{16}$/)
    expect(keyId(SecretKey.fromBytes(Buffer.alloc(32, 1)))).toBe(keyId(secret))
    expect(keyId(SecretKey.fromBytes(Buffer.alloc(32, 2)))).not.toBe(keyId(secret))
    expect(secret.bytes.toString('hex')).not.toContain(keyId(secret).slice(0, 8))
  })

  it('shows as its key id in logs and JSON, never as its bytes', () => {
    const secret = SecretKey.generate()
    expect(inspect({ secret })).toBe(`{ secret: SecretKey(${secret.id}) }`)
    expect(JSON.stringify({ secret })).toBe(`{"secret":{"keyId":"${secret.id}"}}`)
    expect(`${secret}`).toBe(`SecretKey(${secret.id})`)
  })
})
