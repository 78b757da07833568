/**
 * The two queues of a Bun socket, shared by the plain transport and the
 * native TLS engine: what arrived and was not taken yet (the socket is
 * paused past a bound), and what Bun's `write` did not take yet (Bun takes
 * what the kernel accepts now and returns the count; the rest waits, in
 * order, for the socket's `drain`), with the shutdown that follows it.
 *
 * @internal
 */

/** The part of a Bun socket (plain or TLS) the queues use. @internal */
export interface QueuedSocket {
  write(bytes: Uint8Array): number
  shutdown(): void
  pause(): void
  resume(): void
}

/** What arrived and was not taken yet. @internal */
export class SocketInbox {
  private chunks: Array<Uint8Array> = []
  private bytes = 0
  private paused = false

  constructor(private readonly bound: number) {}

  get isEmpty(): boolean {
    return this.chunks.length === 0
  }

  /** A chunk arrived; past the bound the socket stops reading. */
  push(socket: QueuedSocket, chunk: Uint8Array): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.bytes += chunk.length
    if (this.bytes >= this.bound && !this.paused) {
      this.paused = true
      socket.pause()
    }
  }

  /** Everything that arrived, in one chunk; a paused socket reads again (unless `closed`). */
  take(socket: QueuedSocket | undefined, closed: boolean): Uint8Array {
    const chunks = this.chunks
    const total = this.bytes
    this.chunks = []
    this.bytes = 0
    if (this.paused && !closed) {
      this.paused = false
      socket?.resume()
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total)
  }

  /** Drop what waits (the socket is being closed). */
  clear(): void {
    this.chunks = []
    this.bytes = 0
  }
}

/** What the socket did not take yet, then the shutdown. @internal */
export class SocketOutbox {
  private chunks: Array<Uint8Array> = []
  /** Bytes waiting for the socket. */
  bytes = 0
  /** The shutdown was asked for: it goes out once nothing waits. */
  shutdownRequested = false
  /** The socket was told to shut down. */
  shutdownSent = false

  /**
   * Write `bytes` now as far as the socket takes them, after what already
   * waits; the rest waits (`copy`: as a copy, else by reference). False if
   * the socket refused (it is closed), in which case nothing was taken.
   */
  send(socket: QueuedSocket, bytes: Uint8Array, copy: boolean): boolean {
    if (bytes.length === 0) return true
    let rest = bytes
    if (this.chunks.length === 0) {
      const n = socket.write(bytes)
      if (n < 0) return false
      rest = bytes.subarray(n)
    }
    if (rest.length > 0) {
      this.chunks.push(copy ? rest.slice() : rest)
      this.bytes += rest.length
    }
    return true
  }

  /** Write what waits as far as the socket takes it; then the shutdown, if asked for. */
  flush(socket: QueuedSocket): void {
    while (this.chunks.length > 0) {
      const chunk = this.chunks[0]!
      const n = socket.write(chunk)
      if (n < 0) return
      this.bytes -= n
      if (n < chunk.length) {
        this.chunks[0] = chunk.subarray(n)
        return
      }
      this.chunks.shift()
    }
    if (this.shutdownRequested && !this.shutdownSent) {
      this.shutdownSent = true
      socket.shutdown()
    }
  }

  /** Ask for the shutdown: at once if nothing waits, else after it. */
  requestShutdown(socket: QueuedSocket): void {
    if (this.shutdownRequested) return
    this.shutdownRequested = true
    this.flush(socket)
  }

  /** Drop what waits (the socket is being closed). */
  clear(): void {
    this.chunks = []
    this.bytes = 0
  }
}
