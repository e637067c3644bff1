import { describe, expect, it } from 'vitest'
import { tlsFromEnvironment } from '../src/engine/tls.js'
import { defaultEngineUrl, parseEngineUrl } from '../src/engine/url.js'
import { TransshipError } from '../src/errors.js'

describe('engine URLs', () => {
  it('parses unix:// socket paths', () => {
    expect(parseEngineUrl('unix:///run/transship-testenv/b/docker.sock')).toEqual({
      protocol: 'unix',
      url: 'unix:///run/transship-testenv/b/docker.sock',
      socketPath: '/run/transship-testenv/b/docker.sock',
    })
  })

  it('parses tcp:// hosts and ports, IPv6 included', () => {
    expect(parseEngineUrl('tcp://docker.example.org:2376')).toMatchObject({
      protocol: 'tcp',
      host: 'docker.example.org',
      port: 2376,
    })
    expect(parseEngineUrl('tcp://[fd00::5]:2375')).toMatchObject({ host: 'fd00::5', port: 2375 })
    expect(parseEngineUrl('tcp://docker.example.org')).toMatchObject({ port: undefined })
  })

  it('parses ssh:// user, host, port and remote socket path', () => {
    expect(
      parseEngineUrl('ssh://root@10.213.0.6:2222/run/transship-testenv/b/docker.sock'),
    ).toEqual({
      protocol: 'ssh',
      url: 'ssh://root@10.213.0.6:2222/run/transship-testenv/b/docker.sock',
      host: '10.213.0.6',
      port: 2222,
      username: 'root',
      socketPath: '/run/transship-testenv/b/docker.sock',
    })
  })

  it('defaults an ssh:// socket path to /var/run/docker.sock, and leaves user and port to SSH', () => {
    for (const url of ['ssh://builder', 'ssh://builder/']) {
      expect(parseEngineUrl(url)).toMatchObject({
        host: 'builder',
        port: undefined,
        username: undefined,
        socketPath: '/var/run/docker.sock',
      })
    }
  })

  it('decodes percent-encoded users and paths', () => {
    expect(parseEngineUrl('ssh://ci%2Bbot@h/srv/my%20docker.sock')).toMatchObject({
      username: 'ci+bot',
      socketPath: '/srv/my docker.sock',
    })
  })

  it.each([
    ['docker.sock', 'expected unix:///path, tcp://host:port or ssh://[user@]host'],
    ['docker.example.org:2375', 'expected unix:///path'],
    ['http://h:2375', 'unsupported scheme "http:"'],
    ['unix://', 'missing socket path'],
    ['unix:///', 'missing socket path'],
    ['unix://run/docker.sock', 'absolute socket path'],
    ['tcp://:2375', 'expected unix:///path'],
    ['tcp://h:2375/prefix', 'takes no path'],
    ['tcp://me@h:2375', 'takes no user'],
    ['ssh://h/x?timeout=3', 'query strings'],
  ])('refuses %s: %s', (url, reason) => {
    const error = catchError(() => parseEngineUrl(url))
    expect(error).toBeInstanceOf(TransshipError)
    expect(error).toMatchObject({ code: 'ENGINE_URL_INVALID' })
    expect(error.message).toContain(`invalid engine URL "${url}"`)
    expect(error.message).toContain(reason)
  })

  it('never repeats a password from a URL', () => {
    const error = catchError(() => parseEngineUrl('ssh://root:hunter2@h/'))
    expect(error.message).toContain('passwords in engine URLs are not supported')
    expect(error.message).not.toContain('hunter2')
    expect(error.message).toContain('ssh://root:REDACTED@h/')
  })
})

describe('the default engine', () => {
  it('is DOCKER_HOST when set, else the local socket', () => {
    expect(defaultEngineUrl({ DOCKER_HOST: 'tcp://10.0.0.5:2376' })).toBe('tcp://10.0.0.5:2376')
    expect(defaultEngineUrl({})).toBe('unix:///var/run/docker.sock')
  })

  it('takes TLS files from DOCKER_CERT_PATH when DOCKER_TLS_VERIFY is set', () => {
    expect(tlsFromEnvironment({ DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs' })).toEqual({
      caPath: '/certs/ca.pem',
      certPath: '/certs/cert.pem',
      keyPath: '/certs/key.pem',
    })
    expect(tlsFromEnvironment({ DOCKER_CERT_PATH: '/certs' })).toBeUndefined()
  })
})

function catchError(run: () => unknown): Error {
  try {
    run()
  } catch (error) {
    if (error instanceof Error) return error
  }
  throw new Error('expected an error')
}
