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
