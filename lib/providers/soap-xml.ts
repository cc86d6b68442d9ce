/**
 * A small, strict XML reader for the Mada gateway's SOAP answers, so the kit needs no XML library
 * (fast-xml-parser brought seven packages of its own). It checks well-formedness (one root, tags
 * closed in order, quoted attributes, known entities) and returns elements as nested objects keyed
 * by local name (namespace prefixes dropped), leaves as their trimmed text, repeated elements as
 * arrays; attributes, comments and processing instructions are skipped. A DOCTYPE is refused (SOAP
 * 1.1 forbids one), so no entity is ever declared or expanded. Pure.
 */

export type XmlResult = { readonly ok: true; readonly doc: Record<string, unknown> } | { readonly ok: false; readonly code: string; readonly line: number };

const NAME = /^[A-Za-z_:][A-Za-z0-9_.:-]*/;
const ATTRIBUTE = /^\s+[A-Za-z_:][A-Za-z0-9_.:-]*\s*=\s*(?:"[^"<]*"|'[^'<]*')/;
const ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const MAX_DEPTH = 64;

interface Frame {
  readonly name: string;
  readonly children: Record<string, unknown>;
  text: string;
  hasChildren: boolean;
}

class XmlSyntaxError extends Error {
  constructor(
    readonly code: string,
    readonly at: number,
  ) {
    super(code);
  }
}

function localName(name: string): string {
  const colon = name.lastIndexOf(':');
  return colon === -1 ? name : name.slice(colon + 1);
}

/** Text with the five predefined and numeric character references decoded; any other `&` is an error. */
function decodeText(raw: string, at: number): string {
  return raw.replace(/&([^;&\s]{0,10});?/g, (match: string, ref: string) => {
    if (!match.endsWith(';')) throw new XmlSyntaxError('InvalidEntity', at);
    const named = ENTITIES[ref];
    if (named !== undefined) return named;
    const numeric = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(ref);
    const point = numeric === null ? NaN : numeric[1] !== undefined ? Number.parseInt(numeric[1], 16) : Number(numeric[2]);
    if (!Number.isInteger(point) || point > 0x10ffff || point === 0) throw new XmlSyntaxError('InvalidEntity', at);
    return String.fromCodePoint(point);
  });
}

function addChild(parent: Frame, name: string, value: unknown): void {
  parent.hasChildren = true;
  const existing = parent.children[name];
  if (existing === undefined) parent.children[name] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else parent.children[name] = [existing, value];
}

function valueOf(frame: Frame): unknown {
  const text = frame.text.trim();
  if (!frame.hasChildren) return text;
  return text === '' ? frame.children : { ...frame.children, '#text': text };
}

/** Skips `<?…?>`, `<!--…-->`; returns the index after it, or throws when it is not closed. */
function skipMarkup(xml: string, i: number, open: string, close: string): number {
  const end = xml.indexOf(close, i + open.length);
  if (end === -1) throw new XmlSyntaxError('InvalidXml', i);
  return end + close.length;
}

/** The start tag at `i` (`<name attr="…">` or `<name/>`): its name, whether it closes itself, and where it ends. */
function readStartTag(xml: string, i: number): { name: string; selfClosing: boolean; next: number } {
  const name = NAME.exec(xml.slice(i + 1, i + 200))?.[0];
  if (name === undefined) throw new XmlSyntaxError('InvalidTag', i);
  let j = i + 1 + name.length;
  for (;;) {
    const attribute = ATTRIBUTE.exec(xml.slice(j, j + 4096));
    if (attribute === null) break;
    j += attribute[0].length;
  }
  const rest = /^\s*(\/?)>/.exec(xml.slice(j, j + 256));
  if (rest === null) throw new XmlSyntaxError(xml.length <= j ? 'InvalidXml' : 'InvalidAttr', j);
  return { name, selfClosing: rest[1] === '/', next: j + rest[0].length };
}

function parse(xml: string): Record<string, unknown> {
  const root: Frame = { name: '', children: {}, text: '', hasChildren: false };
  const stack: Frame[] = [root];
  let sawRoot = false;
  let i = xml.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (i < xml.length) {
    const top = stack[stack.length - 1] as Frame;
    const lt = xml.indexOf('<', i);
    const textEnd = lt === -1 ? xml.length : lt;
    if (textEnd > i) {
      const raw = xml.slice(i, textEnd);
      if (stack.length === 1) {
        if (raw.trim() !== '') throw new XmlSyntaxError('InvalidChar', i);
      } else top.text += decodeText(raw, i);
      i = textEnd;
      continue;
    }
    if (xml.startsWith('<?', i)) i = skipMarkup(xml, i, '<?', '?>');
    else if (xml.startsWith('<!--', i)) i = skipMarkup(xml, i, '<!--', '-->');
    else if (xml.startsWith('<![CDATA[', i)) {
      if (stack.length === 1) throw new XmlSyntaxError('InvalidChar', i);
      const end = xml.indexOf(']]>', i + 9);
      if (end === -1) throw new XmlSyntaxError('InvalidXml', i);
      top.text += xml.slice(i + 9, end);
      i = end + 3;
    } else if (xml.startsWith('<!', i)) throw new XmlSyntaxError('InvalidTag', i);
    else if (xml.startsWith('</', i)) {
      const close = /^<\/([A-Za-z_:][A-Za-z0-9_.:-]*)\s*>/.exec(xml.slice(i, i + 256));
      if (close === null || stack.length === 1 || close[1] !== top.name) throw new XmlSyntaxError(close === null ? 'InvalidTag' : 'InvalidTagClose', i);
      stack.pop();
      addChild(stack[stack.length - 1] as Frame, localName(top.name), valueOf(top));
      i += close[0].length;
    } else {
      if (stack.length === 1 && sawRoot) throw new XmlSyntaxError('MultipleRoots', i);
      const tag = readStartTag(xml, i);
      sawRoot = true;
      if (tag.selfClosing) addChild(top, localName(tag.name), '');
      else {
        if (stack.length > MAX_DEPTH) throw new XmlSyntaxError('TooDeep', i);
        stack.push({ name: tag.name, children: {}, text: '', hasChildren: false });
      }
      i = tag.next;
    }
  }
  if (stack.length > 1 || !sawRoot) throw new XmlSyntaxError('InvalidXml', xml.length);
  return root.children;
}

/** Reads `xml`; a well-formedness error comes back as its code and line, never thrown. */
export function readXml(xml: string): XmlResult {
  try {
    return { ok: true, doc: parse(xml) };
  } catch (error) {
    if (!(error instanceof XmlSyntaxError)) throw error;
    return { ok: false, code: error.code, line: xml.slice(0, error.at).split('\n').length };
  }
}
