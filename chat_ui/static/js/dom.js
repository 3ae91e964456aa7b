// Small DOM helpers: every text goes in through textContent, never innerHTML.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const STATUS = { on_sale: "在售", discontinued: "已停售", suspended: "暂停销售" };
export const DOC_TYPE = { regulation: "法规", clause: "条款", case: "案例" };

// Text with the given words wrapped in <mark>, longest words first.
export function highlighted(text, words) {
  const frag = document.createDocumentFragment();
  const list = [...new Set(words.filter((w) => w && w.length >= 2))].sort((a, b) => b.length - a.length);
  if (!list.length) { frag.append(text); return frag; }
  const escaped = list.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const re = new RegExp(`(${escaped.join("|")})`, "g");
  let last = 0;
  for (const m of text.matchAll(re)) {
    frag.append(text.slice(last, m.index), el("mark", {}, m[0]));
    last = m.index + m[0].length;
  }
  frag.append(text.slice(last));
  return frag;
}

export function docLink(docId, locator) {
  return `#/doc/${encodeURIComponent(docId)}` + (locator ? `?loc=${encodeURIComponent(locator)}` : "");
}

// The flag banner: red, names the successor and links to it.
export function flagBanner(flag) {
  const box = el("div", { class: "flag", role: "alert", "data-product": flag.product_id },
    "⚠ ", el("a", { href: `#/product/${encodeURIComponent(flag.product_id)}` }, flag.name),
    `（${flag.product_id}）${STATUS[flag.status] || flag.status}` + (flag.discontinued_date ? `，${flag.discontinued_date}起` : "") + "，不可再向客户推荐。");
  if (flag.replaced_by) {
    box.append("替代产品：", el("a", { href: `#/product/${encodeURIComponent(flag.replaced_by.product_id)}`, class: "successor" },
      `${flag.replaced_by.name}（${flag.replaced_by.product_id}）`), "。");
  } else {
    box.append("暂无替代产品。");
  }
  return box;
}
