// Product page: catalog facts and status history, successor/predecessor, the neighbourhood picture,
// clauses by section, cases that concern it, regulations its clauses cite.
import { call } from "./api.js";
import { STATUS, docLink, el, flagBanner } from "./dom.js";
import { graphPicture } from "./graph.js";

const SOURCE = { catalog: "产品目录", api: "人工更新" };

export async function productView(root, productId) {
  root.replaceChildren(el("p", { class: "muted" }, "加载中…"));
  let o;
  try { o = await call("GET", `/v1/products/${encodeURIComponent(productId)}/overview`); }
  catch (err) { root.replaceChildren(el("div", { class: "error", role: "alert" }, `无法打开产品：${err.message}`)); return; }
  const p = o.product;
  const link = (x) => el("a", { href: `#/product/${encodeURIComponent(x.product_id)}` }, `${x.name}（${x.product_id}）`);
  const facts = el("table", { class: "facts" }, el("tbody", {},
    el("tr", {}, el("th", {}, "产品编号"), el("td", {}, p.product_id)),
    el("tr", {}, el("th", {}, "保险公司"), el("td", {}, p.insurer || "")),
    el("tr", {}, el("th", {}, "类别"), el("td", {}, p.category || "")),
    el("tr", {}, el("th", {}, "销售状态"), el("td", { class: `status-${p.status}`, id: "status" }, STATUS[p.status] || p.status)),
    el("tr", {}, el("th", {}, "上市日期"), el("td", {}, p.effective_date || "")),
    p.discontinued_date ? el("tr", {}, el("th", {}, "停售日期"), el("td", {}, p.discontinued_date)) : "",
    el("tr", {}, el("th", {}, "别名"), el("td", {}, (p.aliases || []).join("、"))),
    el("tr", {}, el("th", {}, "替代产品"), el("td", { id: "successor" }, o.successor ? link(o.successor) : "无")),
    el("tr", {}, el("th", {}, "前代产品"), el("td", { id: "predecessors" }, o.predecessors.length ? o.predecessors.map(link) : "无"))));
  const history = el("ol", { class: "history" }, o.history.map((h) =>
    el("li", {}, `${h.date || ""} ${STATUS[h.status] || h.status || ""}`, h.discontinued_date ? `（停售日期 ${h.discontinued_date}）` : "",
      h.replaced_by ? `，替代产品 ${h.replaced_by}` : "", el("span", { class: "muted" }, ` · ${SOURCE[h.source] || h.source}`))));
  const open = (n) => {
    if (n.kind === "product") location.hash = `#/product/${encodeURIComponent(n.id)}`;
    else if (n.doc_id) location.hash = docLink(n.doc_id, n.locator);
  };
  const byDoc = new Map();
  for (const s of o.clauses) { if (!byDoc.has(s.doc_id)) byDoc.set(s.doc_id, []); byDoc.get(s.doc_id).push(s); }
  const clauses = [...byDoc.entries()].map(([docId, sections]) => el("div", {},
    el("h3", {}, el("a", { href: docLink(docId) }, sections[0].title)),
    sections.map((s) => el("details", { class: "section" },
      el("summary", {}, `${s.locator} ${s.text.slice(0, 28)}${s.text.length > 28 ? "…" : ""}`),
      el("div", { class: "passage-text" }, s.text),
      el("a", { href: docLink(docId, s.locator) }, "在全文中查看")))));
  const laws = new Map();
  for (const c of [...o.clause_citations, ...o.case_citations]) if (c.regulation_doc_id) laws.set(c.article_key, c);
  root.replaceChildren(
    el("h1", {}, p.name),
    ...o.flags.map(flagBanner),
    facts,
    el("h2", {}, "状态记录"), history,
    el("h2", {}, "关系图"), graphPicture(o.graph, p.product_id, open),
    el("h2", {}, "条款"), ...(clauses.length ? clauses : [el("p", { class: "empty" }, "没有收录条款文件。")]),
    el("h2", {}, "相关案例"), o.cases.length ? el("ul", {}, o.cases.map((c) => el("li", {}, el("a", { href: docLink(c.doc_id) }, c.title)))) : el("p", { class: "empty" }, "没有相关案例。"),
    el("h2", {}, "条款引用的法规"), laws.size ? el("ul", {}, [...laws.values()].map((c) => el("li", {}, el("a", { href: docLink(c.regulation_doc_id, c.article) }, `${c.regulation_title} ${c.article}`)))) : el("p", { class: "empty" }, "没有引用已收录的法规。"),
  );
}
