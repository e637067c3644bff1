export {
  type ConformanceOptions,
  describeTransportConformance,
  type TransportFixture,
} from './describeTransportConformance.js'
export {
  drainToHash,
  type RandomArtifact,
  randomArtifact,
  randomStream,
  type StreamDigest,
} from './streams.js'
