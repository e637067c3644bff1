import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { messageOf, TransshipError } from '../errors.js'

/** TLS client files for a `tcp://` engine, as `docker --tlsverify` takes them. */
export interface EngineTlsOptions {
  /** CA certificate (PEM) the engine's certificate must chain to; the system CAs if absent. */
  readonly caPath?: string
  /** Client certificate (PEM). */
  readonly certPath?: string
  /** Client private key (PEM). */
  readonly keyPath?: string
}

/** The PEM contents of {@link EngineTlsOptions}' files, as docker-modem takes them. */
export interface EngineTlsMaterial {
  readonly ca: Buffer | undefined
  readonly cert: Buffer | undefined
  readonly key: Buffer | undefined
}

/**
 * TLS settings from the environment, as the Docker CLI reads them along with `DOCKER_HOST`:
 * when `DOCKER_TLS_VERIFY` is set, `ca.pem`, `cert.pem` and `key.pem` in `DOCKER_CERT_PATH`
 * (`~/.docker` by default).
 *
 * ## Example
 * ```ts
 * tlsFromEnvironment({ DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs' })
 * // { caPath: '/certs/ca.pem', certPath: '/certs/cert.pem', keyPath: '/certs/key.pem' }
 * ```
 *
 * @param env - the environment.
 * @return the TLS files, or undefined when `DOCKER_TLS_VERIFY` is not set.
 */
export function tlsFromEnvironment(
  env: NodeJS.ProcessEnv = process.env,
): EngineTlsOptions | undefined {
  if (!env.DOCKER_TLS_VERIFY) return undefined
  const directory = env.DOCKER_CERT_PATH || join(homedir(), '.docker')
  return {
    caPath: join(directory, 'ca.pem'),
    certPath: join(directory, 'cert.pem'),
    keyPath: join(directory, 'key.pem'),
  }
}

/**
 * Reads the TLS files.
 *
 * @param tls - the files.
 * @param url - the engine URL, for the error message.
 * @return their contents.
 * @throws TransshipError `ENGINE_TLS_INVALID` naming the file that cannot be read.
 */
export function readTlsMaterial(tls: EngineTlsOptions, url: string): EngineTlsMaterial {
  const read = (path: string | undefined, what: string) => {
    if (path === undefined) return undefined
    try {
      return readFileSync(path)
    } catch (error) {
      throw new TransshipError(
        'ENGINE_TLS_INVALID',
        `engine ${url}: cannot read TLS ${what} ${path}: ${messageOf(error)}`,
        { cause: error },
      )
    }
  }
  return {
    ca: read(tls.caPath, 'CA certificate'),
    cert: read(tls.certPath, 'client certificate'),
    key: read(tls.keyPath, 'client key'),
  }
}
