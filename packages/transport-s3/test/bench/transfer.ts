/**
 * One timed transfer for `pnpm bench s3` (bench/s3.ts), in a process of its own so that its
 * peak RSS is its own:
 *
 *   node --import tsx transfer.ts '<json Transfer>'
 *
 * prints `{"ms":…,"bytes":…}` on stdout. `idle` loads the same modules and makes the same
 * client, and transfers nothing: the baseline of the RSS figures.
 */
import { performance } from 'node:perf_hooks'
import type { Readable } from 'node:stream'
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { randomStream } from '@transship/core/testing'
import { testS3 } from '../../../../test/support/s3.js'
import { createS3Transport } from '../../src/index.js'

/** What to transfer, and how. */
export interface Transfer {
  readonly action: 'put' | 'get' | 'idle'
  /** Through the transport, or with the SDK alone (lib-storage's Upload, GetObject). */
  readonly via: 'transport' | 'sdk'
  /** In the test environment's bucket (`.testenv/env`, where the credentials come from too). */
  readonly prefix: string
  /** Under the prefix. */
  readonly key: string
  readonly size: number
  readonly seed: string
  readonly partSize: number
  readonly parallelism: number
}

/** What a transfer measured. */
export interface Measured {
  readonly ms: number
  readonly bytes: number
}

async function main(transfer: Transfer): Promise<Measured> {
  const { endpoint, region, credentials, bucket } = testS3()
  const client = new S3Client({ endpoint, region, forcePathStyle: true, credentials })
  const transport = createS3Transport({
    client,
    bucket,
    prefix: transfer.prefix,
    partSize: transfer.partSize,
    parallelism: transfer.parallelism,
  })
  const Key = `${transfer.prefix}/${transfer.key}`
  const started = performance.now()
  let bytes = 0
  if (transfer.action === 'put') {
    const body = randomStream(transfer.size, transfer.seed)
    if (transfer.via === 'transport') {
      bytes = (await transport.put(transfer.key, body)).size
    } else {
      await new Upload({
        client,
        params: { Bucket: bucket, Key, Body: body },
        partSize: transfer.partSize,
        queueSize: transfer.parallelism,
      }).done()
      bytes = transfer.size
    }
  } else if (transfer.action === 'get') {
    const body =
      transfer.via === 'transport'
        ? await transport.get(transfer.key)
        : ((await client.send(new GetObjectCommand({ Bucket: bucket, Key }))).Body as Readable)
    for await (const chunk of body) bytes += (chunk as Buffer).length
  }
  const ms = performance.now() - started
  client.destroy()
  return { ms, bytes }
}

const measured = await main(JSON.parse(process.argv[2] ?? '') as Transfer)
process.stdout.write(`${JSON.stringify(measured)}\n`)
