import {
  type _Object,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3'
import { TransshipError } from '@transship/core'
import createDebug from 'debug'
import { DRIVER_NAME } from './errors.js'

const debug = createDebug('transship:s3')

/** DeleteObjects takes at most this many keys. */
const DELETE_BATCH = 1000

/** An object as a listing gives it. */
export interface ListedObject {
  readonly key: string
  readonly size: number
  readonly modified?: Date
}

/** What to list. */
export interface ListScope {
  readonly client: S3Client
  readonly bucket: string
  /** `s3://bucket/`, for messages. */
  readonly location: string
}

/**
 * Every object whose key starts with `prefix`, following ListObjectsV2's continuation
 * tokens to the end.
 *
 * S3 lists keys in ascending UTF-8 order, and a continuation token means "after this key":
 * a server that lists in another order (s3rver walks its directories, so `a/x` comes
 * before `a-b/x`) may skip or repeat keys from one page to the next. Such a listing is
 * refused once it needs a second page, rather than returned partial; a single page is
 * complete in any order.
 *
 * @throws TransshipError `TRANSPORT_IO` for a listing that cannot be trusted to be whole;
 *   SDK errors as they are.
 */
export async function listObjects(
  scope: ListScope,
  prefix: string,
  signal: AbortSignal | undefined,
): Promise<ListedObject[]> {
  const found: ListedObject[] = []
  let token: string | undefined
  let pages = 0
  let previous: string | undefined
  let ordered = true
  do {
    const page = await listPage(scope, prefix, token, signal)
    pages += 1
    for (const object of page.Contents ?? []) {
      if (object.Key === undefined) throw untrusted(scope, prefix, 'an object without a key')
      if (
        previous !== undefined &&
        Buffer.compare(Buffer.from(previous), Buffer.from(object.Key)) >= 0
      ) {
        ordered = false
      }
      previous = object.Key
      found.push(listed(object))
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined
    if (page.IsTruncated && !token) {
      throw untrusted(scope, prefix, 'a truncated page without a continuation token')
    }
    if ((token !== undefined || pages > 1) && !ordered) {
      throw untrusted(
        scope,
        prefix,
        'keys out of S3 order on a listing of several pages, which may then skip or repeat keys',
      )
    }
  } while (token !== undefined)
  debug('list %s%s: %d objects in %d pages', scope.location, prefix, found.length, pages)
  return found
}

function listPage(
  { client, bucket }: ListScope,
  prefix: string,
  token: string | undefined,
  signal: AbortSignal | undefined,
) {
  return client.send(
    new ListObjectsV2Command({
      Bucket: bucket,
      Prefix: prefix,
      ...(token !== undefined && { ContinuationToken: token }),
    }),
    { abortSignal: signal },
  )
}

function listed(object: _Object): ListedObject {
  return {
    key: object.Key as string,
    size: object.Size ?? 0,
    ...(object.LastModified !== undefined && { modified: object.LastModified }),
  }
}

function untrusted(scope: ListScope, prefix: string, what: string): TransshipError {
  return new TransshipError(
    'TRANSPORT_IO',
    `[${DRIVER_NAME}] refusing a partial listing of ${scope.location}${prefix}: the server returned ${what}`,
  )
}

/**
 * Deletes `keys` with DeleteObjects, 1,000 at a time.
 *
 * @throws TransshipError `TRANSPORT_IO` naming the keys the server did not delete; SDK
 *   errors as they are.
 */
export async function deleteObjects(
  { client, bucket, location }: ListScope,
  keys: readonly string[],
  signal: AbortSignal | undefined,
): Promise<void> {
  for (let start = 0; start < keys.length; start += DELETE_BATCH) {
    const batch = keys.slice(start, start + DELETE_BATCH)
    const result = await client.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
      }),
      { abortSignal: signal },
    )
    const errors = result.Errors ?? []
    if (errors.length > 0) {
      const shown = errors
        .slice(0, 3)
        .map((error) => `${JSON.stringify(error.Key)}: ${error.Code} ${error.Message ?? ''}`.trim())
      throw new TransshipError(
        'TRANSPORT_IO',
        `[${DRIVER_NAME}] the server did not delete ${errors.length} of ${batch.length} objects in ${location}: ${shown.join('; ')}${errors.length > 3 ? '; …' : ''}`,
      )
    }
    debug('deleted %d objects in %s', batch.length, location)
  }
}
