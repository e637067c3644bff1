import { randomBytes } from 'node:crypto'

/**
 * A new backup id: the container's name, the UTC time and a random suffix, e.g.
 * `web-20261125T101500Z-3f9a`. It is the backup's key prefix in the transport.
 *
 * @param container - the container's name.
 * @param now - the time to stamp.
 * @return the id.
 */
export function newBackupId(container: string, now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
  const safeName = container.replace(/[^A-Za-z0-9_.-]/g, '_')
  return `${safeName}-${stamp}-${randomBytes(2).toString('hex')}`
}
