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
  return containsNodeType(node, 8);
}

/**
 * True when the subtree holds a processing instruction. Readers skip them and canonicalization
 * (as xml-crypto implements it) renders them as bare text, so they could hide signed text.
 */
export function containsProcessingInstruction(node: Node): boolean {
  return containsNodeType(node, 7);
}

function containsNodeType(node: Node, nodeType: number): boolean {
  for (let child = node.firstChild; child; child = child.nextSibling) {
    if (child.nodeType === nodeType) return true;
    if (child.nodeType === 1 && containsNodeType(child, nodeType)) return true;
  }
  return false;
}

/**
 * The deepest element nesting in an XML text, found by a linear scan before any parser sees it:
 * a 200,000-deep nest costs a recursive parser seconds, and this scan microseconds.
 * Returns as soon as `limit` is exceeded.
 */
export function exceedsDepth(xml: string, limit: number): boolean {
  let depth = 0;
  let i = xml.indexOf('<');
  while (i !== -1) {
    const next = xml.charCodeAt(i + 1);
    if (next === 47 /* / */) {
      depth--;
    } else if (next === 33 /* ! */ || next === 63 /* ? */) {
      // comment, CDATA, declaration or processing instruction: no nesting
    } else {
      const close = xml.indexOf('>', i);
      if (close === -1) return false; // malformed: the parser will say so
      if (xml.charCodeAt(close - 1) !== 47 /* / */) {
        depth++;
        if (depth > limit) return true;
      }
      i = close;
    }
    i = xml.indexOf('<', i + 1);
  }
  return false;
}
