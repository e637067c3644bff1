import { TarFormatError } from './tarHeader.js'

// Keywords whose values Go refuses to carry a NUL; for the others, the keyword may not.
const NUL_FREE_VALUES = new Set(['path', 'linkpath', 'uname', 'gname'])

/**
 * Parses the data of a PAX extended header: records `"<length> <keyword>=<value>\n"`, as
 * strictly as Go's archive/tar does. A later record for the same keyword wins.
 *
 * @param data - the extended header's data, without its padding.
 * @return keywords and values, with the raw bytes as latin1 characters.
 * @throws TarFormatError when a record is malformed.
 */
export function parsePaxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>()
  let position = 0
  while (position < data.length) {
    const space = data.indexOf(0x20, position)
    const lengthText = space === -1 ? '' : data.toString('latin1', position, space)
    const end = position + Number(lengthText)
    if (!/^\d+$/.test(lengthText) || end > data.length || end <= space + 1) {
      throw new TarFormatError(`malformed PAX record at byte ${position} of its header`)
    }
    const record = data.toString('latin1', space + 1, end - 1)
    const equals = record.indexOf('=')
    const keyword = record.slice(0, equals)
    const value = record.slice(equals + 1)
    const nulFree = NUL_FREE_VALUES.has(keyword) ? value : keyword
    if (data[end - 1] !== 0x0a || equals <= 0 || nulFree.includes('\0')) {
      const shown = record.length > 100 ? `${record.slice(0, 100)}…` : record
      throw new TarFormatError(`malformed PAX record ${JSON.stringify(shown)}`)
    }
    records.set(keyword, value)
    position = end
  }
  return records
}
