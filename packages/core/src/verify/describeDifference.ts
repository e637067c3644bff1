import type { TreeDifference } from './verifyContainers.js'

/**
 * One difference as a line people read: the path as the container sees it, then what
 * differs, source value first.
 *
 * ## Example
 * ```ts
 * describeDifference(d) // '/data/app.conf: mode 0644 → 0600, content sha256 5891… → sha256 e3b0…'
 * ```
 *
 * @param difference - the difference.
 * @return the line.
 */
export function describeDifference(difference: TreeDifference): string {
  const where = `${difference.shown}${difference.tree === 'layer' ? ' (layer)' : ''}`
  if (difference.kind === 'missing') return `${where}: missing on the target`
  if (difference.kind === 'added') return `${where}: only on the target`
  const fields = difference.fields.map(({ field, source, target }) =>
    field === 'content'
      ? `content ${short(source)} → ${short(target)}`
      : `${field} ${source} → ${target}`,
  )
  return `${where}: ${fields.join(', ')}`
}

/** `sha256 <64 digits>` → `sha256 <12 digits>…`. */
function short(hash: string): string {
  return hash.replace(/^(sha256 [0-9a-f]{12})[0-9a-f]{52}$/, '$1…')
}
