/**
 * Thin typed helpers over node-forge's ASN.1 reader, for the few structures we walk by hand
 * (CMS SignedData, certificate names). Forge keeps byte strings as "binary" JS strings; these
 * helpers hand out Buffers instead.
 */
import forge from 'node-forge';

export type Asn1 = forge.asn1.Asn1;
export const { Class, Type } = forge.asn1;

// The typings only know `fromDer(bytes, strict)`; forge takes an options object. BIT STRINGs are
// left undecoded so re-encoding a parsed certificate gives back its exact bytes.
const fromDer = forge.asn1.fromDer as unknown as (
  bytes: string,
  options: { strict: boolean; parseAllBytes: boolean; decodeBitStrings: boolean },
) => Asn1;

export function parseDer(der: Buffer): Asn1 {
  return fromDer(der.toString('binary'), { strict: true, parseAllBytes: true, decodeBitStrings: false });
}

export function toDer(node: Asn1): Buffer {
  return Buffer.from(forge.asn1.toDer(node).getBytes(), 'binary');
}

export function toBuffer(bytes: string): Buffer {
  return Buffer.from(bytes, 'binary');
}

export function isTag(node: Asn1 | undefined, tagClass: forge.asn1.Class, type: number): node is Asn1 {
  return node !== undefined && node.tagClass === tagClass && node.type === type;
}

export function children(node: Asn1 | undefined): Asn1[] {
  if (node === undefined || !Array.isArray(node.value)) throw new Error('expected a constructed ASN.1 value');
  return node.value;
}

export function primitiveBytes(node: Asn1 | undefined): Buffer {
  if (node === undefined || typeof node.value !== 'string') throw new Error('expected a primitive ASN.1 value');
  return toBuffer(node.value);
}

export function oidOf(node: Asn1 | undefined): string {
  if (!isTag(node, Class.UNIVERSAL, Type.OID) || typeof node.value !== 'string') throw new Error('expected an OID');
  return forge.asn1.derToOid(node.value);
}

/** The bytes of an OCTET STRING, including the BER form split into constructed chunks. */
export function octetStringBytes(node: Asn1 | undefined): Buffer {
  if (!isTag(node, Class.UNIVERSAL, Type.OCTETSTRING)) throw new Error('expected an OCTET STRING');
  return typeof node.value === 'string' ? toBuffer(node.value) : Buffer.concat(node.value.map(octetStringBytes));
}

/** Hex of a DER INTEGER as certificates print serial numbers: no sign-padding zero byte. */
export function integerHex(node: Asn1 | undefined): string {
  if (!isTag(node, Class.UNIVERSAL, Type.INTEGER)) throw new Error('expected an INTEGER');
  const bytes = primitiveBytes(node);
  const unpadded = bytes.length > 1 && bytes[0] === 0 && bytes[1]! >= 0x80 ? bytes.subarray(1) : bytes;
  return unpadded.toString('hex');
}

export function timeOf(node: Asn1 | undefined): Date {
  if (isTag(node, Class.UNIVERSAL, Type.UTCTIME) && typeof node.value === 'string') return forge.asn1.utcTimeToDate(node.value);
  if (isTag(node, Class.UNIVERSAL, Type.GENERALIZEDTIME) && typeof node.value === 'string') {
    return forge.asn1.generalizedTimeToDate(node.value);
  }
  throw new Error('expected a UTCTime or GeneralizedTime');
}

/** A directory string value (UTF8String, PrintableString, IA5String, BMPString, ...) as text. */
export function stringOf(node: Asn1 | undefined): string {
  const bytes = primitiveBytes(node);
  if (node!.type === Type.UTF8) return bytes.toString('utf8');
  if (node!.type === Type.BMPSTRING) return bytes.swap16().toString('utf16le');
  return bytes.toString('latin1');
}
