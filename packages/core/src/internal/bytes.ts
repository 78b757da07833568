/** @internal */

// Both Node and Bun provide the WHATWG encoders; core's `types: []` hides them.
declare const TextEncoder: new() => { encode(input: string): Uint8Array }
declare const TextDecoder: new(label?: string, options?: { fatal?: boolean }) => {
  decode(input: Uint8Array, options?: { stream?: boolean }): string
}

const encoder = new TextEncoder()

/** @internal */
export const utf8Encode = (s: string): Uint8Array => encoder.encode(s)

/** @internal */
export const utf8Decoder = () => new TextDecoder("utf-8")

/** Join chunks into one array (one copy). @internal */
export const concat = (chunks: ReadonlyArray<Uint8Array>, total?: number): Uint8Array => {
  const size = total ?? chunks.reduce((n, c) => n + c.length, 0)
  const out = new Uint8Array(size)
  let offset = 0
  for (const c of chunks) {
    out.set(c, offset)
    offset += c.length
  }
  return out
}
