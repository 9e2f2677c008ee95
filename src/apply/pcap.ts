/**
 * Joins message payloads that are pcap records (each optionally led by a pcap global header, as a
 * capture agent that publishes whole small captures writes them) into one pcap file with one global
 * header, as Tawon's `tawonctl k8s streams dump` does. Pure: bytes in, bytes out.
 */

/** The pcap global header's size, and a record header's. */
const GLOBAL_HEADER_BYTES = 24;
const RECORD_HEADER_BYTES = 16;
/** Magic numbers of microsecond and nanosecond captures, as written by a little-endian writer. */
const MAGIC_MICROS = 0xa1b2c3d4;
const MAGIC_NANOS = 0xa1b23c4d;
/** The largest packet a pcap record may hold (libpcap's maximum snapshot length). */
const MAX_RECORD_BYTES = 262_144;
/** The link type of a file whose payloads carry no global header: Ethernet. */
export const LINKTYPE_ETHERNET = 1;

/** What a global header says; records of one file share it. */
interface PcapFormat {
  readonly littleEndian: boolean;
  readonly magic: number;
  readonly linkType: number;
}

/** Writes one pcap file out of many payloads: {@link add} each, then {@link finish}. */
export class PcapWriter {
  private format?: PcapFormat;
  private headerWritten = false;

  /** @param linkType the link type of the file when no payload carries a global header */
  constructor(private readonly linkType = LINKTYPE_ETHERNET) {}

  /**
   * The bytes to append for `payload`: the file's global header before the first records, then the
   * payload's records; undefined when the payload is not pcap records, or records of another format
   * (byte order, precision, link type) than the file's.
   */
  public add(payload: Uint8Array): Uint8Array[] | undefined {
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const own = formatOf(view);
    const format = own ?? this.format ?? { littleEndian: true, magic: MAGIC_MICROS, linkType: this.linkType };
    if (this.format !== undefined && !sameFormat(format, this.format)) return undefined;
    const records = payload.subarray(own === undefined ? 0 : GLOBAL_HEADER_BYTES);
    // A header alone announces the format of the bare records that follow it (an agent that sends it once).
    if (records.byteLength > 0 && !wholeRecords(records, format.littleEndian)) return undefined;
    this.format = format;
    const chunks = this.headerWritten ? [] : [globalHeader(format)];
    this.headerWritten = true;
    return records.byteLength > 0 ? [...chunks, records] : chunks;
  }

  /** What is left to write: the global header, when no payload was written, so the file is a valid empty capture. */
  public finish(): Uint8Array[] {
    if (this.headerWritten) return [];
    this.headerWritten = true;
    return [globalHeader(this.format ?? { littleEndian: true, magic: MAGIC_MICROS, linkType: this.linkType })];
  }
}

/** The format of a payload that starts with a global header; undefined when it does not. */
function formatOf(view: DataView): PcapFormat | undefined {
  if (view.byteLength < GLOBAL_HEADER_BYTES) return undefined;
  for (const littleEndian of [true, false]) {
    const magic = view.getUint32(0, littleEndian);
    if ((magic === MAGIC_MICROS || magic === MAGIC_NANOS) && view.getUint16(4, littleEndian) === 2) {
      return { littleEndian, magic, linkType: view.getUint32(20, littleEndian) };
    }
  }
  return undefined;
}

function sameFormat(a: PcapFormat, b: PcapFormat): boolean {
  return a.littleEndian === b.littleEndian && a.magic === b.magic && a.linkType === b.linkType;
}

/** True when `bytes` are one or more whole records, each no longer than its original packet. */
function wholeRecords(bytes: Uint8Array, littleEndian: boolean): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  // Bounded: each pass moves past a record header and its data, or returns.
  while (offset < bytes.byteLength) {
    if (bytes.byteLength - offset < RECORD_HEADER_BYTES) return false;
    const included = view.getUint32(offset + 8, littleEndian);
    const original = view.getUint32(offset + 12, littleEndian);
    if (included > MAX_RECORD_BYTES || included > original) return false;
    offset += RECORD_HEADER_BYTES + included;
    if (offset > bytes.byteLength) return false;
  }
  return bytes.byteLength > 0;
}

function globalHeader(format: PcapFormat): Uint8Array {
  const header = new Uint8Array(GLOBAL_HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setUint32(0, format.magic, format.littleEndian);
  view.setUint16(4, 2, format.littleEndian);
  view.setUint16(6, 4, format.littleEndian);
  // Time zone and accuracy 0, as every writer today.
  view.setUint32(16, MAX_RECORD_BYTES, format.littleEndian);
  view.setUint32(20, format.linkType, format.littleEndian);
  return header;
}
