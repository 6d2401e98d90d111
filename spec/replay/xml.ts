/**
 * A deliberately small XML well-formedness checker for the JUnit reports: elements must nest, attributes
 * must be quoted and unique, text and attribute values may hold only the five predefined entities and
 * character references, and no control character XML 1.0 forbids. Returns the element tree.
 */

export interface XmlElement {
  readonly name: string;
  readonly attrs: Record<string, string>;
  readonly children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_][\w.-]*$/;
const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
const FORBIDDEN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;

function unescape(s: string, where: string): string {
  const bare = s.replace(ENTITY, '');
  if (bare.includes('&')) throw new Error(`${where}: bare '&'`);
  if (bare.includes('<')) throw new Error(`${where}: '<' in character data`);
  if (FORBIDDEN.test(s)) throw new Error(`${where}: control character`);
  return s.replace(ENTITY, (m) => {
    switch (m) {
      case '&amp;': return '&';
      case '&lt;': return '<';
      case '&gt;': return '>';
      case '&quot;': return '"';
      case '&apos;': return "'";
      default: return String.fromCodePoint(m[2] === 'x' ? parseInt(m.slice(3, -1), 16) : parseInt(m.slice(2, -1), 10));
    }
  });
}

function parseAttrs(src: string, where: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  let rest = src.trim();
  while (rest) {
    const m = /^([A-Za-z_][\w.:-]*)\s*=\s*"([^"]*)"\s*/.exec(rest);
    if (!m) throw new Error(`${where}: malformed attributes '${rest.slice(0, 40)}'`);
    if (m[1] in attrs) throw new Error(`${where}: duplicate attribute ${m[1]}`);
    attrs[m[1]] = unescape(m[2], `${where} @${m[1]}`);
    rest = rest.slice(m[0].length);
  }
  return attrs;
}

/** Parses one document; throws with a reason when it is not well-formed. */
export function parseXml(doc: string): XmlElement {
  let s = doc;
  const decl = /^<\?xml[^?]*\?>\s*/.exec(s);
  if (decl) s = s.slice(decl[0].length);
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = 0;
  while (i < s.length) {
    const lt = s.indexOf('<', i);
    const text = s.slice(i, lt < 0 ? s.length : lt);
    if (text.length) {
      if (stack.length === 0) {
        if (text.trim()) throw new Error(`text outside the root element: '${text.trim().slice(0, 40)}'`);
      } else {
        stack[stack.length - 1].text += unescape(text, `text in <${stack[stack.length - 1].name}>`);
      }
    }
    if (lt < 0) break;
    const gt = s.indexOf('>', lt);
    if (gt < 0) throw new Error('unterminated tag');
    const tag = s.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (!open || open.name !== name) throw new Error(`</${name}> closes <${open?.name ?? 'nothing'}>`);
      continue;
    }
    const selfClosing = tag.endsWith('/');
    const body = selfClosing ? tag.slice(0, -1) : tag;
    const sp = body.search(/\s/);
    const name = sp < 0 ? body : body.slice(0, sp);
    if (!NAME.test(name)) throw new Error(`bad element name '${name}'`);
    const el: XmlElement = { name, attrs: parseAttrs(sp < 0 ? '' : body.slice(sp), `<${name}>`), children: [], text: '' };
    if (stack.length) stack[stack.length - 1].children.push(el);
    else if (root) throw new Error('more than one root element');
    else root = el;
    if (!selfClosing) stack.push(el);
  }
  if (stack.length) throw new Error(`<${stack[stack.length - 1].name}> is never closed`);
  if (!root) throw new Error('no root element');
  return root;
}

/** Every element named `name` in the tree, depth first. */
export function findAll(el: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = el.name === name ? [el] : [];
  for (const c of el.children) out.push(...findAll(c, name));
  return out;
}
