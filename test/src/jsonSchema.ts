/**
 * A small JSON Schema (2020-12) validator for the keywords the repository's
 * schemas use: type (one or many), const, enum, required, properties,
 * additionalProperties (false or a schema), items, $ref to "#/$defs/...",
 * oneOf, allOf, minimum, maximum, pattern, format "date-time", and boolean
 * schemas. An unknown keyword is an error, so a schema cannot silently use
 * more than this checks.
 */
type Schema = boolean | { readonly [keyword: string]: unknown }

const known = new Set([
  "$schema", "$id", "$defs", "title", "description",
  "type", "const", "enum", "required", "properties", "additionalProperties", "items",
  "$ref", "oneOf", "allOf", "minimum", "maximum", "pattern", "format"
])

const typeOf = (v: unknown): string =>
  v === null ? "null" : Array.isArray(v) ? "array" : typeof v === "number" && Number.isInteger(v) ? "integer" : typeof v

const isType = (v: unknown, t: string) => typeOf(v) === t || (t === "number" && typeOf(v) === "integer")

/** Every problem found, as `path: what`; empty when `value` is valid. */
export const validate = (root: Schema, value: unknown): Array<string> => {
  const problems: Array<string> = []
  const check = (schema: Schema, v: unknown, path: string): void => {
    if (schema === true) return
    if (schema === false) return void problems.push(`${path}: no value is allowed here`)
    for (const k of Object.keys(schema)) if (!known.has(k)) problems.push(`${path}: schema keyword ${k} is not supported`)
    if (typeof schema.$ref === "string") {
      const name = schema.$ref.replace(/^#\/\$defs\//, "")
      const target = (root as { $defs?: Record<string, Schema> }).$defs?.[name]
      if (target === undefined) problems.push(`${path}: unknown $ref ${schema.$ref}`)
      else check(target, v, path)
    }
    if (schema.type !== undefined) {
      const types = Array.isArray(schema.type) ? schema.type as Array<string> : [schema.type as string]
      if (!types.some((t) => isType(v, t))) return void problems.push(`${path}: expected ${types.join(" or ")}, got ${typeOf(v)}`)
    }
    if ("const" in schema && JSON.stringify(schema.const) !== JSON.stringify(v)) {
      problems.push(`${path}: expected ${JSON.stringify(schema.const)}`)
    }
    if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) {
      problems.push(`${path}: ${JSON.stringify(v)} is not one of ${JSON.stringify(schema.enum)}`)
    }
    if (Array.isArray(schema.allOf)) for (const s of schema.allOf as Array<Schema>) check(s, v, path)
    if (Array.isArray(schema.oneOf)) {
      const passing = (schema.oneOf as Array<Schema>).filter((s) => validateWithRoot(root, s, v))
      if (passing.length !== 1) problems.push(`${path}: matches ${passing.length} of oneOf's schemas, not exactly one`)
    }
    if (typeof v === "number") {
      if (typeof schema.minimum === "number" && v < schema.minimum) problems.push(`${path}: below ${schema.minimum}`)
      if (typeof schema.maximum === "number" && v > schema.maximum) problems.push(`${path}: above ${schema.maximum}`)
    }
    if (typeof v === "string") {
      if (typeof schema.pattern === "string" && !new RegExp(schema.pattern, "u").test(v)) {
        problems.push(`${path}: ${JSON.stringify(v)} does not match ${schema.pattern}`)
      }
      if (schema.format === "date-time" && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v)) {
        problems.push(`${path}: ${JSON.stringify(v)} is not a date-time`)
      }
    }
    if (Array.isArray(v) && schema.items !== undefined) v.forEach((item, i) => check(schema.items as Schema, item, `${path}[${i}]`))
    if (typeOf(v) === "object") {
      const o = v as Record<string, unknown>
      for (const r of (schema.required as Array<string> | undefined) ?? []) {
        if (!(r in o)) problems.push(`${path}: missing ${r}`)
      }
      const props = (schema.properties ?? {}) as Record<string, Schema>
      for (const [k, item] of Object.entries(o)) {
        if (k in props) check(props[k]!, item, `${path}.${k}`)
        else if (schema.additionalProperties !== undefined) check(schema.additionalProperties as Schema, item, `${path}.${k}`)
      }
    }
  }
  check(root, value, "$")
  return problems
}

/** Whether `value` is valid against `schema`, a part of `root` (its $refs resolve in `root`). */
const validateWithRoot = (root: Schema, schema: Schema, value: unknown): boolean => {
  const withDefs = typeof schema === "boolean" ? schema : { ...schema, $defs: (root as { $defs?: unknown }).$defs }
  return validate(withDefs as Schema, value).length === 0
}
