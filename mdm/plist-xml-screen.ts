/**
 * A linear pre-scan of an XML plist before the DOM parser sees it. Plists arrive from devices and
 * the network, so the scan refuses what a plist never needs and a parser could be abused with:
 * DTD declarations (entity expansion, external entities), references to undeclared entities, and
 * deep nesting (the plist walker recurses). It also checks that tags balance, so malformed input is
 * reported here as data instead of reaching the DOM parser, which logs its complaints to the console.
 */

export type XmlScreenIssue =
  | { code: 'malformed'; message: string }
  | { code: 'too_deep'; message: string }
  | { code: 'entities'; message: string };

const NAME = /^[A-Za-z_][\w.:-]*/;
const ATTRIBUTE = /^\s+[A-Za-z_][\w.:-]*\s*=\s*("[^"<]*"|'[^'<]*')/;
const TAG_END = /^\s*(\/?)>/;
// The only DOCTYPE a plist carries: `plist` with an optional external id and no internal subset.
const QUOTED = `("[^"]*"|'[^']*')`;
const PLIST_DOCTYPE = new RegExp(`^<!DOCTYPE\\s+plist(\\s+(PUBLIC\\s+${QUOTED}\\s+${QUOTED}|SYSTEM\\s+${QUOTED}))?\\s*>$`);
const REFERENCE = /&(?:(amp|lt|gt|quot|apos)|#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6});/y;
const CONTAINERS = new Set(['dict', 'array']);

const malformed = (message: string): XmlScreenIssue => ({ code: 'malformed', message });

/** Returns the first problem found, or undefined when the document may go to the parser. */
export function screenPlistXml(xml: string, maxDepth: number): XmlScreenIssue | undefined {
  if (/<!(ENTITY|ELEMENT|ATTLIST|NOTATION)\b/.test(xml)) {
    return { code: 'entities', message: 'DTD declarations (<!ENTITY and friends) are not accepted in a plist' };
  }
  const stack: string[] = [];
  let containers = 0;
  let rootSeen = false;
  let doctypeSeen = false;
  let i = 0;

  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt === -1 ? xml.length : lt);
    if (text.length > 0) {
      if (stack.length === 0 && text.trim() !== '') return malformed('text outside the root element');
      const issue = checkReferences(text);
      if (issue) return issue;
    }
    if (lt === -1) break;
    i = lt;

    if (xml.startsWith('<?', i)) {
      const end = xml.indexOf('?>', i + 2);
      if (end === -1) return malformed('unterminated processing instruction');
      i = end + 2;
    } else if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i + 4);
      if (end === -1) return malformed('unterminated comment');
      i = end + 3;
    } else if (xml.startsWith('<![CDATA[', i)) {
      if (stack.length === 0) return malformed('CDATA outside the root element');
      const end = xml.indexOf(']]>', i + 9);
      if (end === -1) return malformed('unterminated CDATA section');
      i = end + 3;
    } else if (xml.startsWith('<!DOCTYPE', i)) {
      const end = xml.indexOf('>', i);
      const declaration = end === -1 ? xml.slice(i) : xml.slice(i, end + 1);
      if (declaration.includes('[')) {
        return { code: 'entities', message: 'a DOCTYPE with an internal subset is not accepted in a plist' };
      }
      if (doctypeSeen || rootSeen || end === -1 || !PLIST_DOCTYPE.test(declaration)) {
        return malformed('unexpected DOCTYPE declaration');
      }
      doctypeSeen = true;
      i = end + 1;
    } else if (xml.startsWith('</', i)) {
      const name = NAME.exec(xml.slice(i + 2, i + 2 + 256))?.[0];
      const close = name === undefined ? null : /^\s*>/.exec(xml.slice(i + 2 + name.length, i + 2 + name.length + 64));
      if (name === undefined || close === null) return malformed('malformed end tag');
      if (stack.pop() !== name) return malformed(`unexpected </${name}>`);
      if (CONTAINERS.has(name)) containers -= 1;
      i += 2 + name.length + close[0].length;
    } else if (xml.startsWith('<!', i)) {
      return malformed('unexpected markup declaration');
    } else {
      const name = NAME.exec(xml.slice(i + 1, i + 1 + 256))?.[0];
      if (name === undefined) return malformed('malformed start tag');
      if (stack.length === 0) {
        if (rootSeen) return malformed('more than one root element');
        if (name !== 'plist') return malformed('the root element must be <plist>');
        rootSeen = true;
      }
      let j = i + 1 + name.length;
      for (let attribute = ATTRIBUTE.exec(xml.slice(j, j + 4096)); attribute; attribute = ATTRIBUTE.exec(xml.slice(j, j + 4096))) {
        const issue = checkReferences(attribute[1]!);
        if (issue) return issue;
        j += attribute[0].length;
      }
      const end = TAG_END.exec(xml.slice(j, j + 64));
      if (end === null) return malformed(`malformed <${name}> tag`);
      i = j + end[0].length;
      const depth = stack.length + 1;
      const containerDepth = containers + (CONTAINERS.has(name) ? 1 : 0);
      // The +2 leaves room for the <plist> root and a leaf value around the containers.
      if (containerDepth > maxDepth || depth > maxDepth + 2) {
        return { code: 'too_deep', message: `the plist nests deeper than ${maxDepth} levels` };
      }
      if (end[1] === '/') {
        if (stack.length === 0) break; // `<plist/>`: nothing more may follow but misc, checked below
        continue;
      }
      stack.push(name);
      containers = containerDepth;
    }
  }

  if (stack.length > 0) return malformed(`<${stack[stack.length - 1]}> is never closed`);
  if (!rootSeen) return malformed('no <plist> root element');
  if (i < xml.length && !/^(\s|<!--[\s\S]*?-->|<\?[\s\S]*?\?>)*$/.test(xml.slice(i))) {
    return malformed('content after the root element');
  }
  return undefined;
}

/** Only the five predefined entities and character references exist without a DTD. */
function checkReferences(text: string): XmlScreenIssue | undefined {
  for (let at = text.indexOf('&'); at !== -1; at = text.indexOf('&', at + 1)) {
    REFERENCE.lastIndex = at;
    if (!REFERENCE.test(text)) {
      return /^&[A-Za-z_][\w.-]*;/.test(text.slice(at, at + 256))
        ? { code: 'entities', message: 'references to undeclared entities are not accepted in a plist' }
        : malformed('a bare "&" in text');
    }
  }
  return undefined;
}
