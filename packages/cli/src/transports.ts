import type { Transport } from '@transship/core'
import { loadCore } from './loadCore.js'

/**
 * Opens the transport a `--via` URL names. Each transport lives in its own package, loaded
 * only for its own scheme, so that the S3 SDK is not loaded for a local directory.
 *
 * @param url - `file:///dir`, `scp://[user@]host[:port]/path`, `s3://bucket/prefix`.
 * @param options - `sshConfig`: the OpenSSH client config for `scp://` hosts
 *   (default ~/.ssh/config).
 * @return the transport.
 * @throws TransshipError `TRANSPORT_URL_INVALID` for an unknown scheme.
 */
export async function openTransport(
  url: string,
  options: { sshConfig?: string } = {},
): Promise<Transport> {
  const scheme = /^([a-z0-9+.-]+):/i.exec(url)?.[1]?.toLowerCase()
  switch (scheme) {
    case 'file':
      return (await import('@transship/transport-local')).localTransportFromUrl(url)
    case 'scp':
      return (await import('@transship/transport-scp')).scpTransportFromUrl(
        url,
        options.sshConfig ? { configPath: options.sshConfig } : {},
      )
    case 's3': {
      // The SDK warns once per process that Node 20 will lose support; transship supports it.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
      const { s3TransportFromUrl } = await import('@transship/transport-s3')
      return s3TransportFromUrl(url, { onWarning: warn })
    }
    default: {
      const { TransshipError } = await loadCore()
      throw new TransshipError(
        'TRANSPORT_URL_INVALID',
        `unsupported transport URL ${JSON.stringify(url)}: expected file:///path, scp://[user@]host[:port]/path or s3://bucket/prefix`,
      )
    }
  }
}

function warn(message: string): void {
  process.stderr.write(`warning: ${message}\n`)
}

/**
 * Splits a backup URL, `<transport URL>/<backup id>`, as `backup` prints it.
 *
 * @param url - the backup URL.
 * @return the transport URL and the backup id.
 * @throws TransshipError `BACKUP_URL_INVALID` when there is no id after the last `/`.
 */
export async function splitBackupUrl(url: string): Promise<{ transportUrl: string; id: string }> {
  const trimmed = url.replace(/\/+$/, '')
  const slash = trimmed.lastIndexOf('/')
  const id = trimmed.slice(slash + 1)
  const transportUrl = trimmed.slice(0, slash)
  if (slash < 0 || id === '' || !/^[a-z0-9+.-]+:\/\/?.+/i.test(transportUrl)) {
    const { TransshipError } = await loadCore()
    throw new TransshipError(
      'BACKUP_URL_INVALID',
      `${JSON.stringify(url)} is not a backup URL: expected <transport URL>/<backup id>, as backup prints it`,
    )
  }
  return { transportUrl, id }
}
