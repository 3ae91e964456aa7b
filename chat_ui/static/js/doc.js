// Document view: the whole document by sections, the cited passage scrolled to and highlighted.
import { call } from "./api.js";
import { DOC_TYPE, el } from "./dom.js";

export async function docView(root, docId, locator) {
  root.replaceChildren(el("p", { class: "muted" }, "加载中…"));
  let d;
  try { d = await call("GET", `/v1/documents/${encodeURIComponent(docId)}`); }
  catch (err) { root.replaceChildren(el("div", { class: "error", role: "alert" }, `无法打开文件：${err.message}`)); return; }
  let target = null;
  const sections = d.sections.map((s) => {
    const hit = locator && s.locator === locator;
    const node = el("section", { class: `doc-section${hit ? " hit" : ""}`, id: `loc-${s.locator}`, "data-locator": s.locator },
      el("div", { class: "loc" }, `${s.locator} `, el("span", { class: "muted" }, s.heading.split(" > ").pop())), s.text);
    if (hit && !target) target = node;
    return node;
  });
  root.replaceChildren(
    el("h1", {}, d.title),
    el("p", { class: "muted" }, `${DOC_TYPE[d.doc_type] || d.doc_type}`, d.product_id ? [" · ", el("a", { href: `#/product/${encodeURIComponent(d.product_id)}` }, d.product_id)] : ""),
    ...sections);
  if (target) target.scrollIntoView({ block: "center" });
  else if (locator) root.prepend(el("div", { class: "error" }, `文件中没有 ${locator}`));
}
