import { DOMParser } from '@xmldom/xmldom';

export const NS = {
  samlp: 'urn:oasis:names:tc:SAML:2.0:protocol',
  saml: 'urn:oasis:names:tc:SAML:2.0:assertion',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
  xenc: 'http://www.w3.org/2001/04/xmlenc#',
  md: 'urn:oasis:names:tc:SAML:2.0:metadata',
} as const;

/** Parse XML with xmldom; throws with the parser's first error (xmldom otherwise only warns). */
export function parseXml(xml: string): Document {
  const errors: string[] = [];
  const doc = new DOMParser({
    errorHandler: (level: string, message: unknown) => {
      if (level !== 'warning') errors.push(String(message));
    },
  }).parseFromString(xml, 'text/xml');
  if (errors.length || !doc.documentElement) throw new Error(errors[0] ?? 'empty document');
  return doc;
}

/** The element children of a node, optionally of one namespace and local name. */
export function childElements(node: Node, ns?: string, localName?: string): Element[] {
  const out: Element[] = [];
  for (let child = node.firstChild; child; child = child.nextSibling) {
    if (child.nodeType !== 1) continue;
    const el = child as Element;
    if (ns !== undefined && el.namespaceURI !== ns) continue;
    if (localName !== undefined && el.localName !== localName) continue;
    out.push(el);
  }
  return out;
}

export function firstChild(node: Node, ns: string, localName: string): Element | undefined {
  return childElements(node, ns, localName)[0];
}

/** Every descendant element with this namespace and local name. */
export function descendants(node: Document | Element, ns: string, localName: string): Element[] {
  return Array.from(node.getElementsByTagNameNS(ns, localName));
}

/** The trimmed text of an element, '' when absent. */
export function text(el: Element | undefined): string {
  return (el?.textContent ?? '').trim();
}

/** An attribute's value, or undefined when absent (xmldom returns '' for absent attributes). */
export function attr(el: Element | undefined, name: string): string | undefined {
  return el?.hasAttribute(name) ? (el.getAttribute(name) ?? undefined) : undefined;
}

/** True when the subtree holds a comment node (comment injection into NameID or attributes). */
export function containsComment(node: Node): boolean {
  for (let child = node.firstChild; child; child = child.nextSibling) {
    if (child.nodeType === 8) return true;
    if (child.nodeType === 1 && containsComment(child)) return true;
  }
  return false;
}

/** Characters XML 1.0 does not allow (xmldom lets them through from character references). */
// eslint-disable-next-line no-control-regex -- the control characters XML forbids are what it looks for
const FORBIDDEN_CHARACTERS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** More attributes (namespace declarations included) than any SAML element needs. */
export const MAX_ATTRIBUTES_PER_ELEMENT = 64;
/**
 * More elements than any SAML response needs (an Entra ID response with 200 groups has about 250):
 * canonicalization and digesting are linear in them, and a padded response must not cost seconds.
 */
export const MAX_ELEMENTS = 5000;
/** More namespace declarations than any SAML response needs; inclusive canonicalization renders each in scope at every element. */
export const MAX_NAMESPACE_DECLARATIONS = 256;

/**
 * What a response must not hold, found in one walk of an element's subtree: a processing
 * instruction (readers skip it and xml-crypto's canonicalization renders it as bare text, so it
 * could hide signed text), a character XML forbids (a lone surrogate is digested like U+FFFD, so
 * a signed U+FFFD could be read as any of 2,048 values; NUL and other controls), a namespace URI
 * with a quote, `<` or `&` (canonicalization renders namespace URIs unescaped, so two documents
 * could canonicalize alike), or an element with more than MAX_ATTRIBUTES_PER_ELEMENT attributes
 * (canonicalization is quadratic in them), or more than `maxElements` elements (MAX_ELEMENTS
 * unless the caller's documents are smaller). `onElement` sees every element of the walk, for a
 * caller that needs one more thing from the same pass. Returns the problem, or undefined.
 */
export function shapeProblem(root: Element, options: { maxElements?: number; onElement?: (el: Element) => void } = {}): { code: string; message: string } | undefined {
  const { maxElements = MAX_ELEMENTS, onElement } = options;
  const stack: Node[] = [root];
  let elements = 0;
  let declarations = 0;
  while (stack.length > 0) {
    const node = stack.pop() as Node;
    if (node.nodeType === 7) return { code: 'saml.processing_instruction_forbidden', message: 'the XML contains a processing instruction' };
    if (node.nodeType === 3 || node.nodeType === 4) {
      if (FORBIDDEN_CHARACTERS.test((node as CharacterData).data)) return { code: 'saml.malformed', message: 'the XML contains a character XML does not allow' };
      continue;
    }
    if (node.nodeType !== 1) continue;
    if (++elements > maxElements) return { code: 'saml.malformed', message: `the XML has more than ${maxElements} elements` };
    // A prefix bound to no namespace: xmldom keeps it, and canonicalization may render it as if it
    // were bound (ds: as XML Signature's), so two different documents could canonicalize alike.
    if ((node as Element).prefix && !(node as Element).namespaceURI) return { code: 'saml.malformed', message: `the prefix of <${(node as Element).nodeName}> is not declared` };
    onElement?.(node as Element);
    const attributes = (node as Element).attributes;
    if (attributes.length > MAX_ATTRIBUTES_PER_ELEMENT) return { code: 'saml.malformed', message: `an element has more than ${MAX_ATTRIBUTES_PER_ELEMENT} attributes` };
    for (let i = 0; i < attributes.length; i++) {
      const attribute = attributes.item(i);
      if (!attribute) continue;
      if (FORBIDDEN_CHARACTERS.test(attribute.value)) return { code: 'saml.malformed', message: 'the XML contains a character XML does not allow' };
      const declaration = attribute.nodeName === 'xmlns' || attribute.nodeName.startsWith('xmlns:');
      if (declaration && /["<&]/.test(attribute.value)) return { code: 'saml.malformed', message: 'a namespace URI contains a quote, < or &' };
      if (declaration && ++declarations > MAX_NAMESPACE_DECLARATIONS) return { code: 'saml.malformed', message: `the XML has more than ${MAX_NAMESPACE_DECLARATIONS} namespace declarations` };
      if (!declaration && attribute.prefix && attribute.prefix !== 'xml' && !attribute.namespaceURI) return { code: 'saml.malformed', message: `the prefix of attribute ${attribute.nodeName} is not declared` };
    }
    for (let child = node.firstChild; child; child = child.nextSibling) stack.push(child);
  }
  return undefined;
}

/**
 * Whether an XML text nests elements deeper than `limit`, found by a linear scan before any
 * parser sees it: a 200,000-deep nest costs a recursive parser seconds (and its stack), and this
 * scan microseconds. Quoted attribute values are skipped (a `>` inside one, as in `<a b="/>">`,
 * ends nothing), and so are comments, CDATA sections and processing instructions up to their
 * own terminators; a value is a quoted string after `=` and white space, and any other shape of
 * attribute (which xmldom takes with a warning) counts as too deep. Whatever the scan cannot follow
 * to its end (an end tag with no start tag open, an unterminated tag, comment, CDATA section or
 * processing instruction) counts as too deep: only a malformed text has one, and the parser may
 * still take it. Returns as soon as the answer is known.
 */
export function exceedsDepth(xml: string, limit: number): boolean {
  let depth = 0;
  let i = xml.indexOf('<');
  while (i !== -1) {
    if (xml.startsWith('<!--', i)) {
      i = after(xml, '-->', i + 4);
    } else if (xml.startsWith('<![CDATA[', i)) {
      i = after(xml, ']]>', i + 9);
    } else if (xml.charCodeAt(i + 1) === 63 /* ? */) {
      i = after(xml, '?>', i + 2);
    } else if (xml.charCodeAt(i + 1) === 33 /* ! */) {
      i = after(xml, '>', i + 2); // a declaration (a DOCTYPE is refused before this runs)
    } else if (xml.charCodeAt(i + 1) === 47 /* / */) {
      depth--;
      if (depth < 0) return true;
      i = after(xml, '>', i + 2);
    } else {
      // A start tag: its end is the first > outside a quoted value. Only the well-formed shape is
      // followed: a value opens with a quote after = and XML white space. xmldom also takes
      // other shapes (an unquoted value, a quote with no =, other characters before the quote),
      // with a warning, and reads what follows as a value where this scan would read markup:
      // any of them counts as too deep.
      let quote = 0;
      let expectValue = false;
      let j = i + 1;
      for (; j < xml.length; j++) {
        const c = xml.charCodeAt(j);
        if (quote !== 0) {
          if (c === quote) quote = 0;
        } else if (expectValue) {
          if (c === 34 /* " */ || c === 39 /* ' */) {
            quote = c;
            expectValue = false;
          } else if (c !== 32 && c !== 9 && c !== 10 && c !== 13) {
            return true;
          }
        } else if (c === 62 /* > */) {
          break;
        } else if (c === 61 /* = */) {
          expectValue = true;
        } else if (c === 34 || c === 39) {
          return true;
        }
      }
      if (j >= xml.length) return true;
      if (xml.charCodeAt(j - 1) !== 47 /* / */) {
        depth++;
        if (depth > limit) return true;
      }
      i = j + 1;
    }
    if (i === -1) return true; // an unterminated comment, CDATA, PI or tag: not counted, so refused
    i = xml.indexOf('<', i);
  }
  return false;
}

/** The index just past the next `terminator` from `from`, or -1 when there is none. */
function after(xml: string, terminator: string, from: number): number {
  const at = xml.indexOf(terminator, from);
  return at === -1 ? -1 : at + terminator.length;
}
