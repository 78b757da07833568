/**
 * What every implementation under measurement provides (raw node:tls, raw
 * Bun TLS sockets, node:tls over a JS Duplex, and effect-tls through a
 * layer), and the sizes every case runs with.
 *
 * Every function measures one run of one case, client and server in this
 * process, on 127.0.0.1, and resolves to what is compared: milliseconds for
 * the timed cases, microseconds per round trip for the echo. The two memory
 * cases run in a fresh process each (see main.ts); their functions call the
 * hooks at the points where memory is measured, and the hooks end the
 * process.
 */

/** The certificates: the root that clients trust, the server's chain and key (ECDSA P-256). */
export interface Pems {
  readonly ca: string
  readonly cert: string
  readonly key: string
}

export interface Sizes {
  /** Case bulk: bytes moved one way, in writes of `chunk` bytes. */
  readonly bulkBytes: number
  readonly chunk: number
  /** Case handshakes: full handshakes, `concurrency` at a time. */
  readonly handshakes: number
  readonly concurrency: number
  /** Case writes: messages of `writeSize` bytes, one write each. */
  readonly writes: number
  readonly writeSize: number
  /** Case echo: round trips of `echoSize` bytes, after `echoWarmup` that are not counted. */
  readonly echo: number
  readonly echoWarmup: number
  readonly echoSize: number
  /** Case idle: connection pairs opened in a fresh process. */
  readonly idle: number
  /** Case peak: how long the writer writes to a peer that never reads, and at most how much. */
  readonly peakSeconds: number
  readonly peakBytes: number
}

export interface IdleHooks {
  /** Call once the server is up (and a first pair came and went): memory before. */
  readonly before: () => Promise<void>
  /** Call once all pairs completed their handshakes on both ends: memory after; ends the process. */
  readonly after: () => Promise<void>
}

export interface PeakHooks {
  /** Call once the pair is connected, right before the first write: starts sampling memory. */
  readonly start: () => Promise<void>
  /** Call when the writer stops, with the bytes its writes completed: reports; ends the process. */
  readonly done: (written: number) => Promise<void>
}

/** One implementation. A case it leaves out is not measured for it. */
export interface Impl {
  readonly name: string
  /** Milliseconds from the first write until the reader has all `bytes`. */
  readonly bulk?: (bytes: number) => Promise<number>
  /** Milliseconds for `n` full handshakes, `concurrency` at a time (each client closes after its handshake). */
  readonly handshakes?: (n: number) => Promise<number>
  /**
   * The same handshakes with Effect's tracer disabled (`"off"`), or with an
   * OpenTelemetry SDK tracer (`"otel"`: a batch span processor into an
   * in-memory exporter); ours only. Without it, `handshakes` ran under
   * Effect's default tracer, which makes every span and exports none.
   */
  readonly tracedHandshakes?: (n: number, tracing: Tracing) => Promise<number>
  /**
   * Milliseconds for `n` resumed handshakes, `concurrency` at a time, each
   * offering a TLS 1.3 ticket gathered (untimed) from full handshakes
   * first; fails unless every one resumed.
   */
  readonly resumed?: (n: number) => Promise<number>
  /** Milliseconds from the first of `n` writes until the reader has all their bytes. */
  readonly writes?: (n: number) => Promise<number>
  /** Microseconds of each of `n` sequential round trips (after `warmup` more). */
  readonly echo?: (n: number, warmup: number) => Promise<ReadonlyArray<number>>
  /** Opens `n` idle pairs between the hooks. */
  readonly idle?: (n: number, hooks: IdleHooks) => Promise<void>
  /** Writes to a peer that never reads, for `peakSeconds` or until `peakBytes` were attempted. */
  readonly peak?: (hooks: PeakHooks) => Promise<void>
}

/** How `tracedHandshakes` traces. */
export type Tracing = "off" | "otel"

export const MiB = 1024 * 1024
export const KiB = 1024

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * The raw baselines' resumed case: `gather` (full handshakes, `concurrency`
 * at a time, untimed) until there are `n` tickets, then `n` handshakes that
 * each offer one (`resume`: whether it resumed), `concurrency` at a time.
 * Milliseconds of the second part; fails unless every handshake resumed.
 */
export const resumptions = async <T>(
  n: number,
  concurrency: number,
  gather: (tickets: Array<T>) => Promise<void>,
  resume: (ticket: T | undefined) => Promise<boolean>
): Promise<number> => {
  const tickets: Array<T> = []
  while (tickets.length < n) await Promise.all(Array.from({ length: concurrency }, () => gather(tickets)))
  const start = performance.now()
  let next = 0
  let reused = 0
  const worker = async () => {
    while (next++ < n) if (await resume(tickets.pop())) reused++
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const ms = performance.now() - start
  if (reused < n) throw new Error(`${n - reused} of ${n} handshakes did not resume`)
  return ms
}

/**
 * Echo round trips of `size` bytes over a raw socket: `arrived` is given
 * the length of every chunk the client receives, and `run` sends `warmup +
 * n` messages one at a time with `send`, returning the counted round trips
 * in microseconds.
 */
export const roundTrips = (size: number) => {
  let got = 0
  let answered: (() => void) | undefined
  return {
    arrived: (length: number) => {
      got += length
      if (got >= size) {
        got -= size
        const wake = answered
        answered = undefined
        wake?.()
      }
    },
    run: async (n: number, warmup: number, send: () => void): Promise<Array<number>> => {
      const micros: Array<number> = []
      for (let i = 0; i < warmup + n; i++) {
        const t0 = performance.now()
        await new Promise<void>((resolve) => {
          answered = resolve
          send()
        })
        if (i >= warmup) micros.push((performance.now() - t0) * 1000)
      }
      return micros
    }
  }
}
