/**
 * What @types/dockerode lacks and transship uses: the checkpoint methods of dockerode 5,
 * the raw query and body of a container start, and docker-modem's `agent` option.
 */
import type { Agent } from 'node:http'

declare module 'dockerode' {
  /** Body of `POST /containers/{id}/checkpoints`. */
  interface CheckpointCreateOptions {
    /** The checkpoint's name. */
    CheckpointID: string
    /** Stop the container once it is checkpointed (`docker checkpoint create` does). */
    Exit?: boolean
    /** A directory other than the engine's own for the checkpoint files. */
    CheckpointDir?: string
  }

  interface Container {
    /** Checkpoints the running container with CRIU (engine in experimental mode). */
    createCheckpoint(options: CheckpointCreateOptions): Promise<void>
    /**
     * The container's checkpoints; Docker answers `null` when there are none, which
     * dockerode passes on as a Buffer holding `null`.
     */
    listCheckpoint(options?: { dir?: string }): Promise<{ Name: string }[] | Buffer>
    /** Removes one checkpoint of the container. */
    deleteCheckpoint(name: string, options?: { dir?: string }): Promise<void>
  }

  interface ContainerStartOptions {
    /**
     * Query parameters sent as they are. Starting from a checkpoint must use
     * `{ _query: { checkpoint }, _body: {} }`: Docker rejects a start with a JSON body.
     */
    _query?: Record<string, string>
    /** Request body; an empty object sends none. */
    _body?: Record<string, never>
  }

  interface DockerOptions {
    /** The HTTP agent docker-modem sends every request through. */
    agent?: Agent
  }
}
