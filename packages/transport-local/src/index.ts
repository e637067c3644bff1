export { DRIVER_NAME } from './errors.js'
export { localTransportFromUrl } from './fromUrl.js'
export { createLocalTransport, type LocalTransportOptions } from './localTransport.js'
export { transportSchemes } from './scheme.js'
