#!/usr/bin/env node
// A Docker volume plugin for the test environment: the legacy (v1) VolumeDriver protocol,
// JSON over HTTP on a unix socket, so that tests can migrate a volume whose driver is not
// `local`. Each volume is a directory under DATA/volumes; its options are kept in
// DATA/options/NAME.json. One instance runs per engine, with its own data directory.
//
//   node server.mjs --socket /run/docker/plugins/NAME.sock --data DIR
//
// No dependencies beyond Node itself. Protocol:
// https://docs.docker.com/engine/extend/plugins_volume/
import { existsSync } from 'node:fs'
import { mkdir, readdir, rm, unlink, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: { socket: { type: 'string' }, data: { type: 'string' } },
})
if (!values.socket || !values.data) {
  console.error('usage: server.mjs --socket PATH --data DIR')
  process.exit(2)
}
const socket = values.socket
const volumes = join(values.data, 'volumes')
const options = join(values.data, 'options')
await mkdir(volumes, { recursive: true, mode: 0o700 })
await mkdir(options, { recursive: true, mode: 0o700 })

const log = (...args) => console.log(new Date().toISOString(), ...args)

/** The directory of a volume; refuses names that are not a single path segment. */
function pathOf(name) {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
    throw new Error(`invalid volume name ${JSON.stringify(name)}`)
  }
  return join(volumes, name)
}

function existing(name) {
  const path = pathOf(name)
  if (!existsSync(path)) throw new Error(`no such volume: ${name}`)
  return path
}

const handlers = {
  'Plugin.Activate': async () => ({ Implements: ['VolumeDriver'] }),
  'VolumeDriver.Capabilities': async () => ({ Capabilities: { Scope: 'local' } }),
  'VolumeDriver.Create': async ({ Name, Opts }) => {
    const path = pathOf(Name)
    await mkdir(path, { recursive: true, mode: 0o755 })
    await writeFile(join(options, `${Name}.json`), JSON.stringify(Opts ?? {}))
    return {}
  },
  'VolumeDriver.Remove': async ({ Name }) => {
    await rm(existing(Name), { recursive: true, force: true })
    await rm(join(options, `${Name}.json`), { force: true })
    return {}
  },
  'VolumeDriver.Mount': async ({ Name }) => ({ Mountpoint: existing(Name) }),
  'VolumeDriver.Unmount': async ({ Name }) => {
    existing(Name)
    return {}
  },
  'VolumeDriver.Path': async ({ Name }) => ({ Mountpoint: existing(Name) }),
  'VolumeDriver.Get': async ({ Name }) => ({
    Volume: { Name, Mountpoint: existing(Name), Status: {} },
  }),
  'VolumeDriver.List': async () => ({
    Volumes: (await readdir(volumes)).map((Name) => ({ Name, Mountpoint: join(volumes, Name) })),
  }),
}

const server = createServer((request, response) => {
  const chunks = []
  request.on('data', (chunk) => chunks.push(chunk))
  request.on('end', async () => {
    const method = request.url?.replace(/^\//, '') ?? ''
    const handler = handlers[method]
    let status = 200
    let body
    try {
      if (request.method !== 'POST' || !handler) {
        status = 404
        throw new Error(`unknown call ${request.method} ${request.url}`)
      }
      const text = Buffer.concat(chunks).toString('utf8')
      body = await handler(text.trim() === '' ? {} : JSON.parse(text))
      log(method, text)
    } catch (error) {
      body = { Err: error instanceof Error ? error.message : String(error) }
      log(method, 'failed:', body.Err)
    }
    response.writeHead(status, { 'Content-Type': 'application/vnd.docker.plugins.v1.2+json' })
    response.end(JSON.stringify(body))
  })
})

if (existsSync(socket)) await unlink(socket)
server.listen(socket, () => log(`listening on ${socket}, volumes in ${volumes}`))
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close()
    unlink(socket).finally(() => process.exit(0))
  })
}
