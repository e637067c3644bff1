import type Docker from 'dockerode'
import { expect } from 'vitest'
import { runOnce } from './runOnce.js'
import type { ListedEntry } from './volumeListing.js'

/** The mtime {@link fillScript} gives `small.txt`: 2001-02-03 04:05:06 UTC. */
export const SMALL_FILE_MTIME = 981173106

/**
 * A shell script (busybox) that fills each directory with every kind of content a volume
 * must carry intact: large, small and empty files; empty and nested directories;
 * relative, absolute and dangling symlinks; hard links; a FIFO; setuid, setgid and sticky
 * modes; owners other than root; explicit mtimes on files, symlinks and directories (the
 * root's included); names with spaces and non-ASCII characters.
 *
 * @param volumes - each directory, with the size of its large file in MiB.
 */
export function fillScript(volumes: readonly { path: string; largeMiB: number }[]): string {
  const fill = `fill() {
  cd "$1"
  mkdir -p "empty dir" nested/deeper/deepest sticky "odd owner" "données"
  head -c $(($2 * 1048576)) /dev/urandom > large.bin
  echo small > small.txt
  : > "empty file"
  echo "héllo wörld" > "nested/deeper/ünïcødé ñame.txt"
  echo "au lait" > "données/café crème.txt"
  echo spaced > "name with spaces.txt"
  ln -s ../small.txt "nested/relative link"
  ln -s deeper/deepest nested/dirlink
  ln -s does/not/exist dangling
  ln -s /etc/hostname "absolute link"
  ln small.txt "nested/hard link to small"
  ln small.txt hard2
  mkfifo fifo
  echo s > setuid && chown 1000:1000 setuid && chmod 4755 setuid
  echo g > setgid && chmod 2750 setgid
  chmod 1777 sticky
  echo app > "owned by app" && chown 1000:1000 "owned by app" && chmod 600 "owned by app"
  echo z > "odd owner/file" && chown -R 4242:4343 "odd owner" && chmod 750 "odd owner"
  chown -h 1000:1000 dangling
  touch -d "2001-02-03 04:05:06" small.txt
  touch -d "1999-12-31 23:59:59" large.bin "empty file" "données/café crème.txt"
  touch -h -d "2010-10-10 10:10:10" dangling "nested/relative link"
  touch -d "2011-11-11 11:11:11" fifo
  touch -d "2005-05-05 05:05:05" nested/deeper/deepest nested/deeper nested "empty dir" sticky "odd owner" "données"
  chmod 755 . && chown 0:0 .
  touch -d "2003-03-03 03:03:03" .
}`
  const calls = volumes.map(({ path, largeMiB }) => `fill '${path}' ${largeMiB}`)
  return ['set -e', fill, ...calls].join('\n')
}

/**
 * Fills volumes from a one-shot container that mounts them all read-write (also those a
 * container mounts read-only).
 *
 * @param docker - the volumes' engine.
 * @param image - a busybox image.
 * @param volumes - volume names, with the size of each one's large file.
 */
export async function fillVolumes(
  docker: Docker,
  image: string,
  volumes: readonly { name: string; largeMiB: number }[],
): Promise<void> {
  const at = volumes.map((volume, index) => ({ ...volume, path: `/fill/${index}` }))
  await runOnce(docker, {
    image,
    cmd: ['sh', '-c', fillScript(at)],
    hostConfig: {
      Mounts: at.map(({ name, path }) => ({ Type: 'volume', Source: name, Target: path })),
    },
  })
}

/**
 * Checks that a listing holds everything {@link fillScript} makes, so that comparing two
 * listings compares something.
 *
 * @param listing - a volume's listing.
 * @param largeMiB - the size its large file was given.
 */
export function expectEveryKindOfContent(listing: readonly ListedEntry[], largeMiB: number): void {
  const at = (path: string) => listing.find((entry) => entry.path === `./${path}`)
  expect(at('large.bin')).toMatchObject({ type: 'file', size: largeMiB * 1048576 })
  expect(at('small.txt')).toMatchObject({ type: 'file', size: 6, mtime: SMALL_FILE_MTIME })
  expect(at('empty file')).toMatchObject({ type: 'file', size: 0 })
  expect(at('empty dir')).toMatchObject({ type: 'directory' })
  expect(at('nested/deeper/deepest')).toMatchObject({ type: 'directory' })
  expect(at('nested/relative link')).toMatchObject({ type: 'symlink', target: '../small.txt' })
  expect(at('dangling')).toMatchObject({ type: 'symlink', target: 'does/not/exist', uid: 1000 })
  expect(at('absolute link')).toMatchObject({ type: 'symlink', target: '/etc/hostname' })
  expect(at('hard2')).toMatchObject({ linkGroup: './hard2' })
  expect(at('nested/hard link to small')).toMatchObject({ linkGroup: './hard2' })
  expect(at('small.txt')).toMatchObject({ linkGroup: './hard2' })
  expect(at('fifo')).toMatchObject({ type: 'fifo' })
  expect(at('setuid')).toMatchObject({ mode: '4755', uid: 1000, gid: 1000 })
  expect(at('setgid')).toMatchObject({ mode: '2750' })
  expect(at('sticky')).toMatchObject({ type: 'directory', mode: '1777' })
  expect(at('odd owner/file')).toMatchObject({ uid: 4242, gid: 4343 })
  expect(at('nested/deeper/ünïcødé ñame.txt')).toMatchObject({ type: 'file' })
  expect(at('données/café crème.txt')).toMatchObject({ type: 'file' })
  expect(at('name with spaces.txt')).toMatchObject({ type: 'file' })
  expect(listing.find((entry) => entry.path === '.')).toMatchObject({ mode: '0755' })
}
