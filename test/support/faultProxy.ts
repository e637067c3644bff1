import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/** The S3 operation of a request, as far as a path-style request shows it. */
export type S3Operation =
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'PutObject'
  | 'CopyObject'
  | 'GetObject'
  | 'HeadObject'
  | 'DeleteObject'
  | 'DeleteObjects'
  | 'ListObjectsV2'
  | 'Other'

/** A request that reached the proxy. */
export interface ProxiedRequest {
  readonly operation: S3Operation
  readonly method: string
  /** The object key (path-style: the path after the bucket), decoded; `''` for the bucket. */
  readonly key: string
  readonly query: URLSearchParams
  readonly headers: IncomingHttpHeaders
  /** The fault applied to it, if any. */
  readonly fault?: Fault['kind']
  /** The status it was answered with, once answered (by the server or by a fault). */
  readonly status?: number
}

/** What the proxy does to a request instead of passing it through untouched. */
export type Fault =
  /** Answers with this status and S3 error code, without forwarding (the body is read first). */
  | { readonly kind: 'status'; readonly status: number; readonly code: string }
  /** Reads this many bytes of the request body (all of a shorter one), then cuts the connection. */
  | { readonly kind: 'drop-request'; readonly afterBytes: number }
  /** Forwards, then cuts the connection after this many bytes of the response body. */
  | { readonly kind: 'drop-response'; readonly afterBytes: number }
  /** Forwards, sends this many bytes of the response body, then nothing more: a stall. */
  | { readonly kind: 'stall-response'; readonly afterBytes: number }
  /** Waits this long, then forwards. */
  | { readonly kind: 'delay'; readonly ms: number }
  /** Waits until the promise settles, then forwards. */
  | { readonly kind: 'hold'; readonly until: Promise<unknown> }

/** Which requests get a fault, and how many times. */
export interface FaultRule {
  /** By default every request. */
  readonly match?: (request: ProxiedRequest) => boolean
  readonly fault: Fault
  /** How many matching requests get it (default: all of them). */
  readonly times?: number
}

interface ActiveRule {
  readonly rule: FaultRule
  remaining: number
}

/**
 * A small HTTP proxy in front of an S3 server that injects faults the server cannot produce
 * itself: error answers (5xx, throttling), cut connections (while the request or the
 * response is on its way), stalls and delays. Clients address it as the S3 endpoint
 * (path-style); requests keep their headers, so signatures stay valid. It records every
 * request, for tests to check what was sent.
 *
 * ## Example
 * ```ts
 * const proxy = await FaultProxy.start(testS3().endpoint)
 * proxy.inject({ match: (r) => r.operation === 'UploadPart', fault: { kind: 'status', status: 503, code: 'SlowDown' }, times: 2 })
 * // … use proxy.endpoint as the S3 endpoint …
 * await proxy.close()
 * ```
 */
export class FaultProxy {
  readonly #server: Server
  readonly #target: URL
  readonly #sockets = new Set<Socket>()
  #rules: ActiveRule[] = []
  /** Every request so far, oldest first. */
  readonly requests: ProxiedRequest[] = []
  /** The proxy's URL, to use as the S3 endpoint. */
  readonly endpoint: string

  private constructor(server: Server, target: URL) {
    this.#server = server
    this.#target = target
    const { port } = server.address() as AddressInfo
    this.endpoint = `http://127.0.0.1:${port}`
    server.on('connection', (socket) => {
      this.#sockets.add(socket)
      socket.on('close', () => this.#sockets.delete(socket))
    })
  }

  /**
   * Starts a proxy on a free loopback port.
   *
   * @param target - the S3 server's URL, e.g. `http://127.0.0.1:4569`.
   */
  static async start(target: string): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined
    const server = createServer((req, res) => proxy?.handle(req, res))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', resolve)
    })
    proxy = new FaultProxy(server, new URL(target))
    return proxy
  }

  /** Adds a rule; the first rule that matches a request (and has uses left) applies. */
  inject(rule: FaultRule): void {
    this.#rules.push({ rule, remaining: rule.times ?? Number.POSITIVE_INFINITY })
  }

  /** Drops every rule and the request log. */
  reset(): void {
    this.#rules = []
    this.requests.length = 0
  }

  /** The recorded requests of one operation. */
  requestsOf(operation: S3Operation): ProxiedRequest[] {
    return this.requests.filter((recorded) => recorded.operation === operation)
  }

  /** Stops the proxy, cutting every connection still open. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const described = describe(req)
    const active = this.#rules.find(
      ({ rule, remaining }) => remaining > 0 && (rule.match?.(described) ?? true),
    )
    if (active) active.remaining -= 1
    const fault = active?.rule.fault
    const record: { -readonly [K in keyof ProxiedRequest]: ProxiedRequest[K] } = fault
      ? { ...described, fault: fault.kind }
      : { ...described }
    this.requests.push(record)
    res.on('finish', () => {
      record.status = res.statusCode
    })
    req.on('error', () => {})
    res.on('error', () => {})
    switch (fault?.kind) {
      case 'status':
        req.resume()
        req.on('end', () => answerError(req, res, fault.status, fault.code))
        return
      case 'drop-request': {
        let seen = 0
        const cut = () => req.socket.destroy()
        req.on('data', (chunk: Buffer) => {
          seen += chunk.length
          if (seen >= fault.afterBytes) cut()
        })
        req.on('end', cut)
        return
      }
      case 'delay':
        setTimeout(() => this.forward(req, res), fault.ms)
        return
      case 'hold':
        req.pause()
        fault.until.finally(() => this.forward(req, res))
        return
      default:
        this.forward(req, res, fault)
    }
  }

  private forward(
    req: IncomingMessage,
    res: ServerResponse,
    fault?: Extract<Fault, { kind: 'drop-response' | 'stall-response' }>,
  ): void {
    if (req.socket.destroyed) return
    const upstream = request({
      host: this.#target.hostname,
      port: this.#target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent: false,
    })
    upstream.on('error', () => res.destroy())
    res.on('close', () => upstream.destroy())
    upstream.on('response', (answer) => {
      answer.on('error', () => res.destroy())
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      if (fault === undefined) {
        answer.pipe(res)
        return
      }
      res.flushHeaders()
      let sent = 0
      const limit = () => {
        if (fault.kind === 'drop-response') res.socket?.destroy()
        else answer.pause()
      }
      if (fault.afterBytes === 0) {
        limit()
        return
      }
      answer.on('data', (chunk: Buffer) => {
        const room = fault.afterBytes - sent
        if (room <= 0) return
        const part = chunk.subarray(0, room)
        sent += part.length
        const drained = res.write(part)
        if (sent >= fault.afterBytes) limit()
        else if (!drained) {
          answer.pause()
          res.once('drain', () => answer.resume())
        }
      })
      answer.on('end', () => res.end())
    })
    req.pipe(upstream)
    req.resume()
  }
}

function describe(req: IncomingMessage): ProxiedRequest {
  const url = new URL(req.url ?? '/', 'http://proxy')
  const [, , ...rest] = url.pathname.split('/')
  const key = decodeURIComponent(rest.join('/'))
  const method = req.method ?? 'GET'
  return {
    operation: operationOf(method, url.searchParams, req.headers, key),
    method,
    key,
    query: url.searchParams,
    headers: req.headers,
  }
}

function operationOf(
  method: string,
  query: URLSearchParams,
  headers: IncomingHttpHeaders,
  key: string,
): S3Operation {
  if (method === 'POST' && query.has('uploads')) return 'CreateMultipartUpload'
  if (method === 'PUT' && query.has('uploadId')) return 'UploadPart'
  if (method === 'POST' && query.has('uploadId')) return 'CompleteMultipartUpload'
  if (method === 'DELETE' && query.has('uploadId')) return 'AbortMultipartUpload'
  if (method === 'POST' && query.has('delete')) return 'DeleteObjects'
  if (method === 'GET' && key === '' && query.get('list-type') === '2') return 'ListObjectsV2'
  if (key === '') return 'Other'
  if (method === 'PUT') return headers['x-amz-copy-source'] ? 'CopyObject' : 'PutObject'
  if (method === 'GET') return 'GetObject'
  if (method === 'HEAD') return 'HeadObject'
  if (method === 'DELETE') return 'DeleteObject'
  return 'Other'
}

function answerError(req: IncomingMessage, res: ServerResponse, status: number, code: string) {
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>injected by the fault proxy</Message><RequestId>fault-proxy</RequestId></Error>`
  res.writeHead(status, {
    'content-type': 'application/xml',
    'content-length': req.method === 'HEAD' ? 0 : Buffer.byteLength(body),
  })
  res.end(req.method === 'HEAD' ? undefined : body)
}
