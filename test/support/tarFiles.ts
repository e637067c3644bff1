import { createHash } from 'node:crypto'
import { type Header, pack } from 'tar-stream'

/** An archive member: a tar-stream header, and a file's content. */
export type TarMember = Partial<Header> & { name: string; content?: string }

/**
 * Builds a tar archive in memory with tar-stream, entries in the order given: for archives
 * no engine would produce (`../` names, symlinks leading out).
 */
export async function tarOf(members: readonly TarMember[]): Promise<Buffer> {
  const packer = pack()
  const chunks: Buffer[] = []
  const collected = (async () => {
    for await (const chunk of packer) chunks.push(chunk as Buffer)
  })()
  for (const { content, ...header } of members) {
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null) => (error ? reject(error) : resolve())
      if (header.type === undefined || header.type === 'file') {
        packer.entry(header, content ?? '', done)
      } else {
        packer.entry(header, done)
      }
    })
  }
  packer.finalize()
  await collected
  return Buffer.concat(chunks)
}

/** A buffer's lower-case hex sha256. */
export function sha256Of(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}
