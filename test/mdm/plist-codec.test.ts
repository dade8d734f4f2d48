import { buildBinary } from 'plist';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildPlist, parsePlist, PlistError, type PlistErrorCode } from '../../mdm/plist-codec.js';

const HEADER = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">`;

const plist = (body: string) => `${HEADER}\n<plist version="1.0">\n${body}\n</plist>\n`;

function plistError(run: () => unknown): PlistError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(PlistError);
    return error as PlistError;
  }
  throw new Error('expected a PlistError');
}

const expectCode = (run: () => unknown, code: PlistErrorCode) => expect(plistError(run).code).toBe(code);

describe('parsePlist', () => {
  afterEach(() => vi.restoreAllMocks());

  it('reads a check-in as a real device sends it, DOCTYPE included', () => {
    const tokenUpdate = plist(`<dict>
  <key>MessageType</key><string>TokenUpdate</string>
  <key>Topic</key><string>com.apple.mgmt.External.0b7d2b1e</string>
  <key>EnrollmentID</key><string>FB833D84-0000-4000-8000-000000000001</string>
  <key>Token</key><data>
    AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
  </data>
  <key>PushMagic</key><string>5C7E0A2B-1D0C-4B7E-9E0A-3F3E7C1A2B3C</string>
  <key>AwaitingConfiguration</key><false/>
  <key>Stamp</key><date>2024-05-01T12:30:00Z</date>
  <key>Count</key><integer>42</integer>
  <key>Ratio</key><real>0.5</real>
  <key>Nested</key><dict><key>List</key><array><string>a</string><true/></array></dict>
</dict>`);
    const parsed = parsePlist(Buffer.from(tokenUpdate));
    expect(parsed).toMatchObject({
      MessageType: 'TokenUpdate',
      EnrollmentID: 'FB833D84-0000-4000-8000-000000000001',
      AwaitingConfiguration: false,
      Count: 42,
      Ratio: 0.5,
      Nested: { List: ['a', true] },
    });
    expect(Buffer.isBuffer(parsed.Token)).toBe(true);
    expect(parsed.Token).toEqual(Buffer.from(Array.from({ length: 32 }, (_, i) => i)));
    expect(parsed.Stamp).toEqual(new Date('2024-05-01T12:30:00Z'));
    expect(parsePlist(tokenUpdate)).toEqual(parsed); // strings too
  });

  it('accepts a plist without prolog, a byte-order mark, comments and the predefined entities', () => {
    expect(parsePlist('<plist version="1.0"><dict/></plist>')).toEqual({});
    expect(parsePlist(`\uFEFF${plist('<!-- hi --><dict><key>a</key><string>x</string></dict>')}`)).toEqual({ a: 'x' });
    const text = parsePlist(plist('<dict><key>t</key><string>&lt;a&gt; &amp; &quot;&apos; &#65;&#x42;<![CDATA[<c>]]></string></dict>'));
    expect(text.t).toBe(`<a> & "' AB<c>`);
    expect(parsePlist(plist('<dict><key>e</key><string/><key>d</key><data/></dict>'))).toEqual({ e: '', d: Buffer.alloc(0) });
  });

  it('refuses entity declarations and internal DTD subsets (entity expansion, XXE)', () => {
    const laughs = `<?xml version="1.0"?>
<!DOCTYPE plist [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
<plist version="1.0"><dict><key>x</key><string>&c;&c;&c;&c;</string></dict></plist>`;
    const error = plistError(() => parsePlist(laughs));
    expect(error.code).toBe('plist_entities_forbidden');
    expect(error.message).toMatch(/DTD|entit/i);

    expectCode(() => parsePlist(`<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY a "...">]><plist><dict/></plist>`), 'plist_entities_forbidden');
    expectCode(
      () => parsePlist(`<!DOCTYPE plist [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><plist><dict><key>a</key><string>&xxe;</string></dict></plist>`),
      'plist_entities_forbidden',
    );
    // An internal subset without declarations, and a declaration without a DOCTYPE.
    expectCode(() => parsePlist('<!DOCTYPE plist [ ]><plist><dict/></plist>'), 'plist_entities_forbidden');
    expectCode(() => parsePlist('<plist><dict/></plist><!ENTITY a "b">'), 'plist_entities_forbidden');
    // A reference to an entity nobody declared is not passed through as text.
    expectCode(() => parsePlist(plist('<dict><key>a</key><string>&secret;</string></dict>')), 'plist_entities_forbidden');
    expectCode(() => parsePlist('<plist version="&v;"><dict/></plist>'), 'plist_entities_forbidden');
  });

  it('refuses nesting deeper than maxDepth without recursing into it', () => {
    const nested = (levels: number) =>
      plist(`${'<dict><key>k</key>'.repeat(levels - 1)}<dict/>${'</dict>'.repeat(levels - 1)}`);
    expect(parsePlist(nested(32))).toBeTypeOf('object');
    expectCode(() => parsePlist(nested(33)), 'plist_too_deep');
    expectCode(() => parsePlist(nested(5), { maxDepth: 4 }), 'plist_too_deep');
    expect(parsePlist(nested(4), { maxDepth: 4 })).toBeTypeOf('object');

    const arrays = (levels: number) => plist(`<dict><key>a</key>${'<array>'.repeat(levels)}${'</array>'.repeat(levels)}</dict>`);
    expectCode(() => parsePlist(arrays(50_000), { maxBytes: 10 * 1024 * 1024 }), 'plist_too_deep');
    // Junk elements count too, though they are no container.
    expectCode(() => parsePlist(plist(`<dict><key>a</key><string>${'<b>'.repeat(100)}${'</b>'.repeat(100)}</string></dict>`)), 'plist_too_deep');
  });

  it('refuses input larger than maxBytes, counting bytes rather than characters', () => {
    const big = plist(`<dict><key>a</key><string>${'x'.repeat(1024 * 1024)}</string></dict>`);
    const error = plistError(() => parsePlist(big));
    expect(error.code).toBe('plist_too_large');
    expect(parsePlist(big, { maxBytes: 2 * 1024 * 1024 }).a).toHaveLength(1024 * 1024);

    const small = plist('<dict><key>a</key><string>é</string></dict>');
    const bytes = Buffer.byteLength(small);
    expect(parsePlist(small, { maxBytes: bytes })).toEqual({ a: 'é' });
    expectCode(() => parsePlist(small, { maxBytes: bytes - 1 }), 'plist_too_large');
  });

  it('refuses binary plists, saying only XML is accepted', () => {
    const binary = Buffer.from(buildBinary({ MessageType: 'Authenticate' }));
    expect(binary.subarray(0, 8).toString()).toBe('bplist00');
    const error = plistError(() => parsePlist(binary));
    expect(error.code).toBe('malformed_plist');
    expect(error.message).toMatch(/only XML plists/);
    expectCode(() => parsePlist(binary.toString('latin1')), 'malformed_plist');
  });

  it.each([
    ['empty input', ''],
    ['JSON', '{"MessageType":"Authenticate"}'],
    ['an OpenStep plist', '{ MessageType = Authenticate; }'],
    ['XML that is not a plist', '<dict><key>a</key><string>b</string></dict>'],
    ['mismatched tags', plist('<dict><key>a</key><string>b</dict></string>')],
    ['an unclosed element', plist('<dict><key>a</key><string>b</string>').replace('</plist>', '')],
    ['two roots', '<plist><dict/></plist><plist><dict/></plist>'],
    ['text after the root', '<plist><dict/></plist>trailing'],
    ['a bare ampersand', plist('<dict><key>a</key><string>fish & chips</string></dict>')],
    ['an unquoted attribute', '<plist version=1.0><dict/></plist>'],
    ['a second DOCTYPE', `${HEADER}${HEADER.split('\n')[1]}<plist><dict/></plist>`],
    ['a DOCTYPE for another document type', '<!DOCTYPE html><plist><dict/></plist>'],
    ['an array at the top level', plist('<array><string>a</string></array>')],
    ['a string at the top level', plist('<string>a</string>')],
    ['an empty plist', '<plist version="1.0"/>'],
    ['an unknown element', plist('<dict><key>a</key><blob/></dict>')],
    ['a dict value without its key', plist('<dict><string>a</string></dict>')],
    ['a __proto__ key', plist('<dict><key>__proto__</key><dict><key>polluted</key><true/></dict></dict>')],
    ['an integer that is not a number', plist('<dict><key>n</key><integer>many</integer></dict>')],
    ['an invalid date', plist('<dict><key>d</key><date>yesterday</date></dict>')],
    ['an unterminated comment', '<plist><dict/></plist><!-- '],
  ])('reports %s as malformed_plist, quietly', (_name, input) => {
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const consoleWarn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    expectCode(() => parsePlist(input), 'malformed_plist');
    expect(consoleError).not.toHaveBeenCalled();
    expect(consoleWarn).not.toHaveBeenCalled();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('buildPlist', () => {
  it('writes an Apple XML plist that parses back to the same value', () => {
    const value = {
      PayloadType: 'Configuration',
      PayloadVersion: 1,
      Ratio: 0.25,
      Signed: true,
      Unsigned: false,
      Blob: Buffer.from([0, 1, 2, 250, 255]),
      When: new Date('2025-01-02T03:04:05Z'),
      Text: 'Société <&> "quoted"',
      Items: [{ Name: 'a' }, ['nested', 2]],
      Empty: {},
    };
    const xml = buildPlist(value);
    expect(xml).toContain('<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">');
    expect(xml).toContain('<data>AAEC+v8=</data>');
    expect(xml).toContain('<date>2025-01-02T03:04:05Z</date>');
    expect(parsePlist(xml)).toEqual(value);
  });

  it('leaves out undefined values', () => {
    expect(parsePlist(buildPlist({ a: 'x', b: undefined }))).toEqual({ a: 'x' });
  });
});
