export { DRIVER_NAME } from './errors.js'
export { type ScpUrlOptions, scpTransportFromUrl } from './fromUrl.js'
export { transportSchemes } from './scheme.js'
export {
  createScpTransport,
  type ScpClientOptions,
  type ScpTransferOptions,
  type ScpTransportOptions,
} from './scpTransport.js'
export type { Protocol } from './session.js'
export { parseScpUrl, type ScpAddress, scpUrlOf } from './url.js'
