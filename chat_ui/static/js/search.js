// Clause search for compliance: query + filters, highlighted matches, result count, CSV export.
import { call } from "./api.js";
import { DOC_TYPE, STATUS, docLink, el, flagBanner, highlighted } from "./dom.js";

function csv(rows) {
  const cell = (v) => `"${String(v ?? "").replace(/"/g, '""')}"`;
  const header = ["排名", "类型", "标题", "位置", "产品", "相关度", "原文"];
  const lines = rows.map((h, i) => [i + 1, DOC_TYPE[h.doc_type] || h.doc_type, h.title, h.locator, h.product_id || "", h.score, h.text].map(cell).join(","));
  return "\ufeff" + [header.map(cell).join(","), ...lines].join("\r\n"); // BOM: Excel reads UTF-8
}

function select(name, label, options) {
  return el("label", {}, label, el("select", { name, "aria-label": label }, el("option", { value: "" }, "全部"),
    options.map(([value, text]) => el("option", { value }, text))));
}

export async function searchView(root) {
  const results = el("section", { id: "results" });
  let products = [];
  try { products = await call("GET", "/v1/products"); } catch { products = []; }
  const insurers = [...new Set(products.map((p) => p.insurer).filter(Boolean))];
  const form = el("form", { class: "search" },
    el("label", {}, "检索词", el("input", { name: "query", required: true, placeholder: "例如：等待期、酒后驾驶、如实告知", "aria-label": "检索词" })),
    select("doc_type", "文件类型", Object.entries(DOC_TYPE)),
    el("button", { type: "submit" }, "检索"),
    el("div", { class: "row" },
      select("insurer", "保险公司", insurers.map((i) => [i, i])),
      select("product", "产品", products.map((p) => [p.product_id, `${p.name}`])),
      select("status", "销售状态", Object.entries(STATUS)),
      el("label", {}, "上市日期不早于", el("input", { type: "date", name: "effective_from", "aria-label": "上市日期不早于" }))));

  async function run(event) {
    event.preventDefault();
    const f = new FormData(form);
    const body = { query: String(f.get("query") || "").trim(), top_k: 50 };
    if (!body.query) return;
    if (f.get("doc_type")) body.doc_types = [f.get("doc_type")];
    if (f.get("insurer")) body.insurers = [f.get("insurer")];
    if (f.get("product")) body.product_ids = [f.get("product")];
    if (f.get("status")) body.statuses = [f.get("status")];
    if (f.get("effective_from")) body.effective_from = f.get("effective_from");
    results.replaceChildren(el("p", { class: "muted" }, "检索中…"));
    let data;
    try { data = await call("POST", "/v1/search", body); }
    catch (err) { results.replaceChildren(el("div", { class: "error", role: "alert" }, `检索失败：${err.message}`)); return; }
    const exportButton = el("button", { class: "secondary", type: "button", onclick: () => {
      const url = URL.createObjectURL(new Blob([csv(data.hits)], { type: "text/csv;charset=utf-8" }));
      const a = el("a", { href: url, download: `brokerkg-检索-${body.query.slice(0, 20)}.csv` });
      document.body.append(a); a.click(); a.remove(); URL.revokeObjectURL(url);
    } }, "导出 CSV");
    results.replaceChildren(el("div", { class: "bar" }, el("strong", { id: "count" }, `共 ${data.total} 条结果`), data.total ? exportButton : ""));
    for (const flag of data.flags) results.append(flagBanner(flag));
    if (!data.hits.length) results.append(el("p", { class: "empty" }, "没有符合条件的条文。可以换个说法，或放宽筛选条件。"));
    for (const h of data.hits) {
      results.append(el("article", { class: "result" },
        el("div", { class: "meta" }, `${DOC_TYPE[h.doc_type] || h.doc_type} · `,
          el("a", { href: docLink(h.doc_id, h.locator) }, `${h.title} ${h.locator}`),
          h.product_id ? [" · ", el("a", { href: `#/product/${encodeURIComponent(h.product_id)}` }, h.product_id)] : ""),
        el("div", { class: "text" }, highlighted(h.text, data.terms))));
    }
  }
  form.addEventListener("submit", run);
  root.replaceChildren(el("h1", {}, "条款检索"), form, results);
}
