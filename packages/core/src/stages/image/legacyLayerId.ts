// A `docker save` in the legacy layout (Docker up to 24) names each layer's directory by a
// "v1 ID" that the engine derives from the layer's chain ID: the manifest.json that maps
// directories to layers comes only at the end of the stream, but each directory's `json`
// file, which comes just before its `layer.tar`, is enough to tell which layer it holds.

import { createHash } from 'node:crypto'

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')
const HEX64 = /^[0-9a-f]{64}$/

/**
 * The chain ID of each layer of an image, as Docker identifies a layer together with
 * those beneath it: the first layer's is its diff ID, each next one's is
 * `sha256(<chain ID below> + ' ' + <diff ID>)`.
 *
 * ## Example
 * ```ts
 * chainIds(inspect.RootFS.Layers) // ['sha256:bcde…', 'sha256:41f0…']
 * ```
 *
 * @param diffIds - the image's layers, bottom first (`RootFS.Layers`).
 * @return their chain IDs, in the same order.
 */
export function chainIds(diffIds: readonly string[]): string[] {
  const chains: string[] = []
  for (const diffId of diffIds) {
    const below = chains.at(-1)
    chains.push(below === undefined ? diffId : `sha256:${sha256(`${below} ${diffId}`)}`)
  }
  return chains
}

/**
 * Which layer a legacy save's directory holds, proved from its `json` file: the engine
 * named the directory `sha256` of that file's own members (without `id` and `parent`, and
 * for any layer but the top one without `os`, which it added afterwards), plus `layer_id`,
 * the layer's chain ID, and `parent`, the directory below, as Go marshals a map: keys
 * sorted, values as they were. A match is a sha256 match on the chain ID, so it cannot
 * name the wrong layer; a file this does not recognise names none.
 *
 * ## Example
 * ```ts
 * legacyLayerIndex(jsonFileText, chainIds(inspect.RootFS.Layers)) // 0: the bottom layer
 * ```
 *
 * @param json - the directory's `json` file, as UTF-8 text.
 * @param chains - the image's chain IDs, bottom first (see {@link chainIds}).
 * @return the layer's index in `chains`, or `undefined` when it is none of them.
 */
export function legacyLayerIndex(json: string, chains: readonly string[]): number | undefined {
  const members = rawMembers(json)
  if (!members) return undefined
  const id = stringMember(members, 'id')
  const parent = stringMember(members, 'parent')
  if (id === undefined || !HEX64.test(id)) return undefined
  if (parent !== undefined && !HEX64.test(parent)) return undefined
  members.delete('id')
  members.delete('parent')
  if (parent !== undefined) members.set('parent', JSON.stringify(`sha256:${parent}`))
  const variants = [members]
  if (members.has('os')) {
    const withoutOs = new Map(members)
    withoutOs.delete('os')
    variants.unshift(withoutOs)
  }
  for (const [index, chain] of chains.entries()) {
    // Only the bottom layer has no parent directory.
    if ((index === 0) !== (parent === undefined)) continue
    for (const variant of variants) {
      variant.set('layer_id', JSON.stringify(chain))
      if (sha256(goMapJson(variant)) === id) return index
    }
  }
  return undefined
}

function stringMember(members: Map<string, string>, key: string): string | undefined {
  const raw = members.get(key)
  if (raw === undefined) return undefined
  const value: unknown = JSON.parse(raw)
  return typeof value === 'string' ? value : undefined
}

/** Go's `json.Marshal` of a `map[string]*json.RawMessage`: keys sorted bytewise, values as given. */
function goMapJson(members: Map<string, string>): string {
  const keys = [...members.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${keys.map((key) => `${JSON.stringify(key)}:${members.get(key)}`).join(',')}}`
}

/**
 * The members of a JSON object, each value as its exact source text (a hash covers the
 * bytes the engine wrote, which re-serializing would not always reproduce).
 *
 * @return the members in order, or `undefined` when `json` is not an object.
 */
export function rawMembers(json: string): Map<string, string> | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined
  // Valid JSON from here on: the scan only has to find where each value ends.
  const members = new Map<string, string>()
  let at = skipSpace(json, json.indexOf('{') + 1)
  while (json[at] !== '}') {
    const keyEnd = stringEnd(json, at)
    const key = JSON.parse(json.slice(at, keyEnd)) as string
    const valueStart = skipSpace(json, skipSpace(json, keyEnd) + 1) // past the ':'
    const valueEnd = valueEndAt(json, valueStart)
    members.set(key, json.slice(valueStart, valueEnd))
    at = skipSpace(json, valueEnd)
    if (json[at] === ',') at = skipSpace(json, at + 1)
  }
  return members
}

function skipSpace(json: string, at: number): number {
  while (at < json.length && ' \t\r\n'.includes(json[at] as string)) at++
  return at
}

/** Where the string starting at `at` (its opening quote) ends: just past its closing quote. */
function stringEnd(json: string, at: number): number {
  for (let i = at + 1; i < json.length; i++) {
    if (json[i] === '\\') i++
    else if (json[i] === '"') return i + 1
  }
  return json.length
}

function valueEndAt(json: string, at: number): number {
  const first = json[at]
  if (first === '"') return stringEnd(json, at)
  if (first === '{' || first === '[') {
    let depth = 0
    for (let i = at; i < json.length; i++) {
      const c = json[i]
      if (c === '"') i = stringEnd(json, i) - 1
      else if (c === '{' || c === '[') depth++
      else if (c === '}' || c === ']') {
        depth--
        if (depth === 0) return i + 1
      }
    }
    return json.length
  }
  // A number, true, false or null: up to the next delimiter.
  let i = at
  while (i < json.length && !',}] \t\r\n'.includes(json[i] as string)) i++
  return i
}
