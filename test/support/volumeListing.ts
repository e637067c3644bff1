import type Docker from 'dockerode'
import { runOnce } from './runOnce.js'

/** One entry of a volume, as {@link listVolume} sees it from inside a container. */
export interface ListedEntry {
  /** Relative to the volume's root, which is `.`. */
  readonly path: string
  readonly type: 'directory' | 'file' | 'symlink' | 'fifo' | 'other'
  /** Permission bits with setuid, setgid and sticky, in octal, e.g. `4755`. */
  readonly mode: string
  readonly uid: number
  readonly gid: number
  /** Seconds since the epoch. */
  readonly mtime: number
  /** Byte size; left out for directories, whose size depends on the file system's history. */
  readonly size?: number
  /** A regular file's sha256. */
  readonly sha256?: string
  /** A symlink's target. */
  readonly target?: string
  /** For a regular file with several names: the first of them, the same for all. */
  readonly linkGroup?: string
}

const MOUNT = '/listed-volume'

// One line per entry: raw mode (hex), uid, gid, size, mtime, inode, content, path. A
// file's content is its sha256, a symlink's its target. Entries are sorted by path.
const LISTING_SCRIPT = `set -e
cd ${MOUNT}
find . | sort | while IFS= read -r p; do
  if [ -L "$p" ]; then c=$(readlink "$p")
  elif [ -f "$p" ]; then c=$(sha256sum < "$p"); c=\${c%% *}
  else c=; fi
  printf '%s|%s|%s\\n' "$(stat -c '%f|%u|%g|%s|%Y|%i' "$p")" "$c" "$p"
done`

/**
 * A checksummed listing of a volume, taken inside a one-shot container that mounts it
 * read-only: path, type, mode with setuid/setgid/sticky, owner, size, mtime, content
 * sha256, symlink target, and hard links grouped by inode. Inode numbers themselves are
 * left out, so that listings from two hosts compare equal.
 *
 * @param docker - the engine that holds the volume.
 * @param image - an image with busybox's find, stat and sha256sum.
 * @param volume - the volume's name.
 */
export async function listVolume(
  docker: Docker,
  image: string,
  volume: string,
): Promise<ListedEntry[]> {
  const output = await runOnce(docker, {
    image,
    cmd: ['sh', '-c', LISTING_SCRIPT],
    hostConfig: { Mounts: [{ Type: 'volume', Source: volume, Target: MOUNT, ReadOnly: true }] },
  })
  const raw = output
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [mode, uid, gid, size, mtime, inode, content, ...path] = line.split('|')
      return {
        rawMode: Number.parseInt(mode ?? '', 16),
        uid: Number(uid),
        gid: Number(gid),
        size: Number(size),
        mtime: Number(mtime),
        inode: inode ?? '',
        content: content ?? '',
        path: path.join('|'),
      }
    })
  const firstNameOfInode = new Map<string, string>()
  const namesPerInode = new Map<string, number>()
  for (const entry of raw) {
    if (typeOf(entry.rawMode) !== 'file') continue
    if (!firstNameOfInode.has(entry.inode)) firstNameOfInode.set(entry.inode, entry.path)
    namesPerInode.set(entry.inode, (namesPerInode.get(entry.inode) ?? 0) + 1)
  }
  return raw.map((entry): ListedEntry => {
    const type = typeOf(entry.rawMode)
    return {
      path: entry.path,
      type,
      mode: (entry.rawMode & 0o7777).toString(8).padStart(4, '0'),
      uid: entry.uid,
      gid: entry.gid,
      mtime: entry.mtime,
      ...(type === 'directory' ? {} : { size: entry.size }),
      ...(type === 'file' ? { sha256: entry.content } : {}),
      ...(type === 'symlink' ? { target: entry.content } : {}),
      ...(type === 'file' && (namesPerInode.get(entry.inode) ?? 0) > 1
        ? { linkGroup: firstNameOfInode.get(entry.inode) as string }
        : {}),
    }
  })
}

function typeOf(rawMode: number): ListedEntry['type'] {
  switch (rawMode & 0o170000) {
    case 0o040000:
      return 'directory'
    case 0o100000:
      return 'file'
    case 0o120000:
      return 'symlink'
    case 0o010000:
      return 'fifo'
    default:
      return 'other'
  }
}
