export {
  connectEngine,
  EngineClient,
  type EngineInfo,
  type EngineOptions,
  shortId,
} from './engine/client.js'
export {
  type DiagnoseOptions,
  DOCTOR_LABEL,
  diagnoseEngine,
  type EngineCheck,
} from './engine/diagnose.js'
export { type EngineTlsOptions, tlsFromEnvironment } from './engine/tls.js'
export {
  DEFAULT_DOCKER_SOCKET,
  defaultEngineUrl,
  type EngineEndpoint,
  parseEngineUrl,
  type SshEndpoint,
  type TcpEndpoint,
  type UnixEndpoint,
} from './engine/url.js'
export { messageOf, TransshipError } from './errors.js'
export { connectSsh, type SshConnection } from './ssh/connect.js'
export { hostKeyFingerprint } from './ssh/knownHosts.js'
export { type ResolvedSshOptions, resolveSshOptions, type SshOptions } from './ssh/options.js'
export type {
  ArtifactExpectation,
  ArtifactStat,
  Transport,
  TransportCallOptions,
} from './transport/contract.js'
export { assertSafeKey, assertSafePrefix } from './transport/keys.js'
