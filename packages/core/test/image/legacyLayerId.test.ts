import { describe, expect, it } from 'vitest'
import { chainIds, legacyLayerIndex, rawMembers } from '../../src/stages/image/legacyLayerId.js'
import { DIRECTORIES, LAYER_JSON, LAYERS } from './fixtures/legacySave.js'

const jsonOf = (index: number) => LAYER_JSON[DIRECTORIES[index] as string] as string

describe('chainIds', () => {
  it('starts from the bottom diff ID and hashes each next one onto the chain below', () => {
    // As the engine's layer store names them (image/overlay2/layerdb/sha256/<chain ID>).
    expect(chainIds(LAYERS)).toEqual([
      LAYERS[0],
      'sha256:928eff2beb6db684cbe6865f23cbef88b18d7115e31f6980eea1bbe9538fdf68',
      'sha256:88884168bc9f91b23cf98512faa64b3e59fc34d3f7ed76bc8f0454435dd5a52c',
    ])
    expect(chainIds([])).toEqual([])
  })
})

describe('legacyLayerIndex', () => {
  it("recognises each directory of a real 20.10 save from its json file: bottom, middle and top (with the image's config)", () => {
    const chains = chainIds(LAYERS)
    expect(DIRECTORIES.map((_, index) => legacyLayerIndex(jsonOf(index), chains))).toEqual([
      0, 1, 2,
    ])
  })

  it('recognises the bottom layers when given only their chain IDs', () => {
    const chains = chainIds(LAYERS.slice(0, 2))
    expect(DIRECTORIES.map((_, index) => legacyLayerIndex(jsonOf(index), chains))).toEqual([
      0,
      1,
      undefined,
    ])
  })

  it('names no layer for another image, a changed file or something else', () => {
    const chains = chainIds(LAYERS)
    // Same layers in another order: other chains.
    const reordered = chainIds([LAYERS[1], LAYERS[0], LAYERS[2]] as string[])
    expect(legacyLayerIndex(jsonOf(1), reordered)).toBeUndefined()
    expect(legacyLayerIndex(jsonOf(2).replace('"os":"linux"', '"os":"windows"'), chains)).toBe(
      undefined,
    )
    // Re-serialised: the same members, but not the bytes the engine hashed.
    const reserialised = JSON.stringify(JSON.parse(jsonOf(2)))
    expect(legacyLayerIndex(reserialised, chains)).toBeUndefined()
    expect(legacyLayerIndex('[]', chains)).toBeUndefined()
    expect(legacyLayerIndex('not json', chains)).toBeUndefined()
    expect(legacyLayerIndex('{"id":"x"}', chains)).toBeUndefined()
    expect(legacyLayerIndex(jsonOf(0), [])).toBeUndefined()
  })
})

describe('rawMembers', () => {
  it('gives each value as written, nested values, escapes and spacing included', () => {
    const json =
      ' { "a" : {"b":[1, {"c":"}]\\""}]} , "d":"\\u003c", "e":-1.5e3,"f":null,"g":true } '
    expect(Object.fromEntries(rawMembers(json) ?? [])).toEqual({
      a: '{"b":[1, {"c":"}]\\""}]}',
      d: '"\\u003c"',
      e: '-1.5e3',
      f: 'null',
      g: 'true',
    })
    expect(rawMembers('{}')?.size).toBe(0)
    expect(rawMembers('"x"')).toBeUndefined()
  })
})
