/** @internal */
export interface Style {
  readonly bold: (s: string) => string
  readonly dim: (s: string) => string
  readonly red: (s: string) => string
  readonly green: (s: string) => string
  readonly yellow: (s: string) => string
}

const code = (open: number, close: number) => (s: string) => `\u001b[${open}m${s}\u001b[${close}m`
const plain = (s: string) => s

/** @internal */
export const make = (color: boolean): Style =>
  color
    ? { bold: code(1, 22), dim: code(2, 22), red: code(31, 39), green: code(32, 39), yellow: code(33, 39) }
    : { bold: plain, dim: plain, red: plain, green: plain, yellow: plain }

/**
 * Colour only on a terminal, and never when `NO_COLOR` is set.
 *
 * @internal
 */
export const useColor = (stream: { readonly isTTY?: boolean }): boolean =>
  stream.isTTY === true && (process.env.NO_COLOR ?? "") === ""
