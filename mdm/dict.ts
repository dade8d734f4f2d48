/** Dictionaries as plists and JSON carry them: the one check and the one clean-up every module uses. */

/** A dictionary: an object that is not an array, a date or bytes (a plist `<data>` is a Buffer). */
export function isDict(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date) && !ArrayBuffer.isView(value);
}

/** The dictionary without its undefined values: a plist has no representation for them. */
export function defined<T extends Record<string, unknown>>(dict: T): T {
  return Object.fromEntries(Object.entries(dict).filter(([, value]) => value !== undefined)) as T;
}
