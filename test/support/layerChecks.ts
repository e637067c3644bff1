// The container layer's test case, shared by the staged (e2e/layer) and the direct
// (e2e/direct-copy) tests: a base image with a known tree, what a container changes on it
// (every kind of change), and the checks that a target holds the same.

import { createHash } from 'node:crypto'
import type Docker from 'dockerode'
import { extract } from 'tar-stream'
import { expect } from 'vitest'
import { execIn } from './docker.js'

const LONG_DIR = `/opt/long/${'d'.repeat(120)}`
const LONG_FILE = `${LONG_DIR}/${'f'.repeat(90)}`
const UNICODE_FILE = '/opt/app/café ü'
/** Where the layer test's container mounts a volume and a tmpfs. */
export const LAYER_MOUNTS = { volume: '/srv/vol', tmpfs: '/srv/tmp' }
/** The files the engine writes into every container. */
const ENGINE_FILES = ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf']
/** What the engine makes in every container when it creates it: not compared. */
const INIT_PATHS = /^\/(\.dockerenv|etc\/mtab|dev\/.*|proc\/.*|sys\/.*)$/

/** The base image's own tree, on top of busybox. */
export const LAYER_BASE_SCRIPT = `set -e
mkdir -p /opt/app /opt/gone/deep /opt/replaced-dir /opt/recreated/sub /opt/owned /srv
echo config > /opt/app/config; echo data > /opt/app/data; echo deep > /opt/gone/deep/file
echo r > /opt/replaced-dir/r; echo old1 > /opt/recreated/old1; echo old2 > /opt/recreated/old2
echo old3 > /opt/recreated/sub/old3; echo owned > /opt/owned/file; chmod 755 /opt/owned
echo original > /opt/file-changed; echo doomed > /opt/file-deleted; echo plain > /opt/file-to-dir`

/** What {@link layerChanges} makes. */
export interface LayerCase {
  /** The size of /opt/big, zeros, in MiB. */
  readonly bigMiB: number
  /** Whether the container has a volume and a tmpfs at {@link LAYER_MOUNTS}. */
  readonly mounts: boolean
}

/**
 * What the migrated container does to its image (every case of the layer), and what the
 * target must show, command by command (run in it with `sh -c`).
 */
export function layerChanges({ bigMiB, mounts }: LayerCase): {
  script: string
  expected: [string, string][]
} {
  const zeros = createHash('md5')
  const mib = Buffer.alloc(1024 * 1024)
  for (let i = 0; i < bigMiB; i++) zeros.update(mib)
  const script = `set -e
echo added > /opt/app/added
echo more >> /opt/file-changed
rm /opt/file-deleted
rm /opt/file-to-dir; mkdir /opt/file-to-dir; echo inside > /opt/file-to-dir/inside
rm -rf /opt/gone
rm -rf /opt/replaced-dir; echo now-a-file > /opt/replaced-dir
rm -rf /opt/recreated; mkdir -p /opt/recreated/sub; echo new > /opt/recreated/new
echo new3 > /opt/recreated/sub/new3
chmod 700 /opt/owned; chown 1000:1000 /opt/owned
mkdir /opt/links; echo hard > /opt/links/h1; ln /opt/links/h1 /opt/links/h2; ln /opt/links/h1 /opt/app/h3
ln -s ../app/config /opt/links/rel; ln -s /opt/app/config /opt/links/abs
mkdir -p ${LONG_DIR}; echo long > ${LONG_FILE}
echo unicode > '${UNICODE_FILE}'
${mounts ? `echo in-volume > ${LAYER_MOUNTS.volume}/file; echo in-tmpfs > ${LAYER_MOUNTS.tmpfs}/file` : ''}
dd if=/dev/zero of=/opt/big bs=1M count=${bigMiB} 2>/dev/null
sync`
  const expected: [string, string][] = [
    ['cat /opt/app/added', 'added'],
    ['cat /opt/file-changed', 'original\nmore'],
    ['test ! -e /opt/file-deleted && echo gone', 'gone'],
    ['cat /opt/file-to-dir/inside', 'inside'],
    ['test ! -e /opt/gone && echo gone', 'gone'],
    ['test -f /opt/replaced-dir && cat /opt/replaced-dir', 'now-a-file'],
    ['ls -A /opt/recreated', 'new\nsub'],
    ['ls -A /opt/recreated/sub', 'new3'],
    ["stat -c '%a %u %g' /opt/owned", '700 1000 1000'],
    ['readlink /opt/links/rel; readlink /opt/links/abs', '../app/config\n/opt/app/config'],
    ['cat /opt/links/rel', 'config'],
    ['stat -c %i /opt/links/h1 /opt/links/h2 | uniq | wc -l', '1'],
    [`cat ${LONG_FILE}`, 'long'],
    [`cat '${UNICODE_FILE}'`, 'unicode'],
    ...(mounts
      ? ([
          [`cat ${LAYER_MOUNTS.volume}/file`, 'in-volume'],
          [`ls -A ${LAYER_MOUNTS.tmpfs}`, ''],
        ] as [string, string][])
      : []),
    ['stat -c %s /opt/big', String(bigMiB * 1024 * 1024)],
    ['md5sum /opt/big | cut -d " " -f 1', zeros.digest('hex')],
  ]
  return { script, expected }
}

/** `docker diff`, sorted, without mount points and the engine's files. */
export async function layerDiff(docker: Docker, id: string): Promise<string[]> {
  const changes = (await docker.getContainer(id).changes()) as
    | { Path: string; Kind: number }[]
    | null
  const skipped = (path: string) =>
    ENGINE_FILES.includes(path) ||
    Object.values(LAYER_MOUNTS).some((mount) => path === mount || path.startsWith(`${mount}/`))
  return (changes ?? [])
    .filter((change) => !skipped(change.Path))
    .map((change) => `${'CAD'[change.Kind]} ${change.Path}`)
    .sort()
}

/** A container's whole filesystem (`docker export`): each member's type, mode, owner, content. */
export interface Listing {
  readonly members: Map<string, string>
  /** Hard links, `name -> target`. */
  readonly links: Map<string, string>
}

/** The {@link Listing} of a container. */
export async function layerListing(docker: Docker, id: string): Promise<Listing> {
  const members = new Map<string, string>()
  const links = new Map<string, string>()
  const reader = extract()
  const archive = (await docker.getContainer(id).export()) as NodeJS.ReadableStream
  const done = (async () => {
    for await (const entry of reader) {
      const { name, type, mode, uid, gid, size, linkname, mtime } = entry.header
      const hash = createHash('sha256')
      for await (const chunk of entry) hash.update(chunk as Buffer)
      const path = `/${name.replace(/\/$/, '')}`
      if (ENGINE_FILES.includes(path) || INIT_PATHS.test(path)) continue
      if (type === 'link') {
        links.set(path, `/${linkname}`)
        members.set(path, members.get(`/${linkname}`) ?? `link to missing ${linkname}`)
        continue
      }
      const time = type === 'directory' ? '' : ` ${mtime?.getTime()}`
      const content = type === 'file' ? ` ${size} ${hash.digest('hex')}` : ''
      const target = type === 'symlink' ? ` -> ${linkname}` : ''
      members.set(path, `${type} ${mode?.toString(8)} ${uid}:${gid}${time}${content}${target}`)
    }
  })()
  archive.pipe(reader)
  await done
  return { members, links }
}

/** The sets of paths that are hard links of one another, each sorted. */
export function linkGroups(listing: Listing): string[][] {
  const groups = new Map<string, string[]>()
  for (const [path, target] of listing.links) {
    groups.set(target, [...(groups.get(target) ?? [target]), path])
  }
  return [...groups.values()].map((group) => group.sort()).sort()
}

/** Differences between two listings, as readable lines (empty when equal). */
export function listingDifferences(expected: Listing, actual: Listing): string[] {
  const lines: string[] = []
  for (const [path, member] of expected.members) {
    const other = actual.members.get(path)
    if (other !== member) lines.push(`${path}: ${member} ≠ ${other ?? 'missing'}`)
  }
  for (const path of actual.members.keys()) {
    if (!expected.members.has(path)) lines.push(`${path}: unexpected ${actual.members.get(path)}`)
  }
  return lines
}

/** Checks that a running container shows `expected` (from {@link layerChanges}). */
export async function expectLayerContent(
  docker: Docker,
  id: string,
  expected: readonly [string, string][],
): Promise<void> {
  const target = docker.getContainer(id)
  expect((await target.inspect()).State.Running).toBe(true)
  for (const [command, output] of expected) {
    const result = await execIn(target, ['sh', '-c', command])
    expect({ command, output: result.stdout.trim() }).toEqual({ command, output })
  }
}
