// Compliance check of a sales text (#/compliance): the text as checked with each finding's span
// highlighted by severity, the findings with the article they break (and the clause or successor that
// shows a product claim wrong), the flags, and the rules in force. The chat's 合规检查 button hands a
// text over through sessionStorage (`openCompliance`), so no text ever goes into the URL.
import { call } from "./api.js";
import { docLink, el, flagBanner } from "./dom.js";

const KEY = "brokerkg.compliance";
export const KINDS = { message: "微信消息", script: "话术", poster: "海报", comparison: "产品对比" };
const SEVERITY = { high: "高风险", medium: "中风险", low: "低风险" };
const RANK = { high: 3, medium: 2, low: 1 };
const CHECK = { conduct: "销售行为", facts: "产品要素", status: "销售状态" };
const ROLE = { breaks: "违反", also: "另见", contradicts: "条款原文" };

function load() {
  try { return JSON.parse(sessionStorage.getItem(KEY)) || {}; } catch { return {}; }
}
function save(state) { sessionStorage.setItem(KEY, JSON.stringify(state)); }

// Open the page with a text prefilled and checked at once (from a chat answer or a comparison).
export function openCompliance(text, kind = "message") {
  save({ text, kind, pending: true });
  location.hash = "#/compliance";
}

// The API counts offsets in code points (Python); JS strings count UTF-16 units, so work on code points.
function segments(chars, findings) {
  const cuts = new Set([0, chars.length]);
  for (const f of findings) { cuts.add(f.start); cuts.add(f.end); }
  const points = [...cuts].sort((a, b) => a - b);
  const out = [];
  for (let i = 0; i + 1 < points.length; i += 1) {
    const [a, b] = [points[i], points[i + 1]];
    const covering = findings.filter((f) => f.start <= a && b <= f.end);
    out.push({ text: chars.slice(a, b).join(""), covering });
  }
  return out;
}

// Spans outside the text or not matching their quote (should not happen) are placed by their quote.
function placed(text, findings) {
  const chars = Array.from(text);
  return findings.map((f, i) => {
    let { start, end } = f;
    if (!(start >= 0 && end <= chars.length && start < end) || chars.slice(start, end).join("") !== f.quote) {
      const at = f.quote ? text.indexOf(f.quote) : -1;
      if (at >= 0) { start = Array.from(text.slice(0, at)).length; end = start + Array.from(f.quote).length; }
      else { start = 0; end = 0; }
    }
    return { ...f, i, start, end };
  });
}

function citationChip(c) {
  const label = c.doc_type === "regulation" ? `${c.title || ""} ${c.locator || ""}`.trim()
    : `${c.title || ""} ${c.locator || ""}`.trim() + (c.display ? `：${c.display}` : "");
  const tip = (c.text || "").slice(0, 200);
  if (!c.doc_id) {
    return el("span", { class: `chip cite cite-${c.role} missing`, title: "未收录该文件" }, label, "（未收录）");
  }
  return el("a", { class: `chip cite cite-${c.role} cite-${c.doc_type}`, href: docLink(c.doc_id, c.locator), title: tip,
    "aria-label": `${ROLE[c.role] || c.role}：${label}，打开原文` }, label);
}

function citationGroups(f) {
  const groups = [];
  for (const role of ["breaks", "contradicts", "also"]) {
    const cites = f.citations.filter((c) => c.role === role);
    if (cites.length) groups.push(el("div", { class: `cites cites-${role}` }, el("span", { class: "muted" }, `${ROLE[role]}：`), cites.map(citationChip)));
  }
  if (f.product_id) {
    groups.push(el("div", { class: "cites" }, el("span", { class: "muted" }, "涉及产品："),
      el("a", { class: "chip product", href: `#/product/${encodeURIComponent(f.product_id)}` }, `${f.product_name || f.product_id}（${f.product_id}）`),
      f.successor ? [el("span", { class: "muted" }, " 替代产品："),
        el("a", { class: "chip successor", href: `#/product/${encodeURIComponent(f.successor.product_id)}`,
          "aria-label": `替代产品：${f.successor.name || f.successor.product_id}，打开产品页` }, `${f.successor.name || f.successor.product_id}（${f.successor.product_id}）`)] : ""));
  }
  return groups;
}

function renderResult(result, out) {
  const findings = placed(result.text, result.findings).sort((a, b) => a.start - b.start || b.end - a.end || a.i - b.i);
  const chars = Array.from(result.text);
  const marks = new Map(); // finding index → its highlight pieces
  const items = new Map(); // finding index → its list item

  function emphasise(i, { scrollTo, focus }) {
    out.querySelectorAll(".active").forEach((n) => n.classList.remove("active"));
    const item = items.get(i);
    const pieces = marks.get(i) || [];
    item.classList.add("active");
    pieces.forEach((m) => m.classList.add("active"));
    if (scrollTo === "finding") { item.scrollIntoView({ block: "nearest", behavior: "smooth" }); if (focus) item.focus({ preventScroll: true }); }
    if (scrollTo === "text" && pieces.length) { pieces[0].scrollIntoView({ block: "nearest", behavior: "smooth" }); if (focus) pieces[0].focus({ preventScroll: true }); }
  }

  const textBox = el("div", { class: "checked-text", id: "checked-text", "aria-label": "检查后的文本" });
  for (const seg of segments(chars, findings.filter((f) => f.end > f.start))) {
    if (!seg.covering.length) { textBox.append(seg.text); continue; }
    const top = seg.covering.reduce((a, b) => (RANK[b.severity] > RANK[a.severity] ? b : a));
    const narrowest = [...seg.covering].sort((a, b) => (a.end - a.start) - (b.end - b.start));
    const label = seg.covering.map((f) => `${SEVERITY[f.severity] || f.severity}：${f.title}`).join("；");
    let next = 0; // repeated clicks on an overlap go through its findings, narrowest first
    const open = () => { const f = narrowest[next % narrowest.length]; next += 1; emphasise(f.i, { scrollTo: "finding", focus: true }); };
    const mark = el("mark", { class: `hl sev-${top.severity}${seg.covering.length > 1 ? " overlap" : ""}`, tabindex: "0", role: "button",
      "aria-label": `${seg.text}（${label}）`, title: label, "data-findings": seg.covering.map((f) => f.i).join(" "),
      onclick: open, onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } } }, seg.text);
    for (const f of seg.covering) { if (!marks.has(f.i)) marks.set(f.i, []); marks.get(f.i).push(mark); }
    textBox.append(mark);
  }

  const list = el("ol", { class: "findings", "aria-label": "发现的问题" }, findings.map((f) => {
    const id = `finding-${f.i}`;
    const item = el("li", { class: `finding sev-${f.severity}`, id, tabindex: "-1", "data-rule": f.rule, "aria-labelledby": `${id}-title` },
      el("div", { class: "finding-head" },
        el("span", { class: `sev sev-${f.severity}` }, SEVERITY[f.severity] || f.severity), " ",
        el("strong", { id: `${id}-title` }, f.title), " ",
        el("span", { class: "small muted" }, `${CHECK[f.check] || f.check} · 规则 ${f.rule} v${f.rule_version}`,
          f.matched_by === "similarity" && f.score != null ? ` · 语义相似 ${Number(f.score).toFixed(2)}` : "",
          f.matched_by === "model" && f.score != null ? ` · 模型判断 ${Number(f.score).toFixed(2)}` : "")),
      el("blockquote", { class: "quote" },
        f.end > f.start
          ? el("button", { type: "button", class: "link locate", "aria-label": `在原文中定位：${f.quote}`, onclick: () => emphasise(f.i, { scrollTo: "text", focus: true }) }, `“${f.quote}”`)
          : `“${f.quote}”`),
      el("p", { class: "explanation" }, f.explanation),
      citationGroups(f));
    items.set(f.i, item);
    return item;
  }));

  const masked = result.text !== out.dataset.input;
  out.replaceChildren(...[
    el("div", { class: "bar" },
      el("strong", { id: "verdict", class: findings.length ? "verdict has-findings" : "verdict clean" },
        findings.length ? `发现 ${findings.length} 个问题` : "✓ 未发现问题"),
      el("span", { class: "small muted", id: "rules-version" }, `规则版本 ${result.rules_version} · ${KINDS[result.kind] || result.kind}`)),
    ...result.flags.map(flagBanner),
    findings.length
      ? [el("h2", {}, "原文"), masked ? el("p", { class: "small muted" }, "个人信息已遮盖。") : "", textBox,
        el("h2", {}, "问题"), list]
      : [el("p", { class: "clean-state", role: "status" }, "未发现问题：按现行规则，这段文字没有发现违规表述。发送前仍请核对产品名称与条款。"),
        masked ? el("p", { class: "small muted" }, "个人信息已遮盖。") : "", el("div", { class: "checked-text" }, result.text)],
  ].flat().filter(Boolean));
}

function rulesPanel() {
  const body = el("div", { class: "rules-body" }, el("p", { class: "muted" }, "加载中…"));
  const panel = el("details", { class: "rules", id: "rules" }, el("summary", {}, "现行规则"), body);
  let loaded = false;
  panel.addEventListener("toggle", async () => {
    if (!panel.open || loaded) return;
    loaded = true;
    let book;
    try { book = await call("GET", "/v1/compliance/rules"); }
    catch (err) { loaded = false; body.replaceChildren(el("div", { class: "error", role: "alert" }, `无法读取规则：${err.message}`)); return; }
    const rows = book.rules.map((r) => el("tr", { class: r.enabled ? "" : "disabled", "data-rule": r.id },
      el("th", { scope: "row" }, r.title, el("div", { class: "small muted" }, r.id)),
      el("td", {}, el("span", { class: `sev sev-${r.severity}` }, SEVERITY[r.severity] || r.severity), el("div", { class: "small muted" }, CHECK[r.check] || r.check)),
      el("td", {}, (r.articles || []).map((a) => {
        const known = (r.article_status || []).find((s) => s.law === a.law && s.article === a.article && s.doc_id);
        const label = `${a.law} ${a.article}`;
        return el("div", {}, known ? el("a", { href: docLink(known.doc_id, a.article) }, label) : label);
      })),
      el("td", { class: "small" }, `v${r.rule_version}`, r.enabled ? "" : el("div", { class: "muted" }, "已停用"))));
    body.replaceChildren(
      el("p", { class: "small muted" }, `规则版本 ${book.rules_version}，共 ${book.rules.length} 条`),
      book.errors.length ? el("div", { class: "error", role: "alert" }, el("strong", {}, "以下规则文件未能加载（沿用上一版）："),
        el("ul", {}, book.errors.map((e) => el("li", {}, e)))) : "",
      el("table", { class: "facts rules-table" },
        el("thead", {}, el("tr", {}, ["规则", "风险", "依据", "版本"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows)));
  });
  return panel;
}

export function complianceView(root) {
  const state = load();
  const text = el("textarea", { id: "compliance-text", name: "text", rows: "6", maxlength: "20000", required: true,
    placeholder: "粘贴或输入要发给客户的文字，例如微信消息、话术、海报文案", "aria-describedby": "compliance-hint" });
  text.value = state.text || "";
  const kind = el("select", { id: "compliance-kind", name: "kind" },
    Object.entries(KINDS).map(([value, label]) => el("option", { value, selected: value === (state.kind || "message") }, label)));
  const submit = el("button", { type: "submit" }, "检查");
  const out = el("section", { id: "compliance-result", "aria-live": "polite", "aria-label": "检查结果" });
  const form = el("form", { class: "compliance", "aria-label": "合规检查" },
    el("label", { for: "compliance-text" }, "待检查的文字"), text,
    el("p", { class: "small muted", id: "compliance-hint" }, "Ctrl+Enter 检查。手机号、身份证号等个人信息会先遮盖。"),
    el("div", { class: "row" }, el("label", { for: "compliance-kind" }, "类型"), kind, submit));

  async function run() {
    const body = { text: text.value.trim(), kind: kind.value };
    if (!body.text) { text.focus(); return; }
    submit.disabled = true;
    out.dataset.input = body.text;
    out.replaceChildren(el("p", { class: "muted" }, "检查中…"));
    try {
      const result = await call("POST", "/v1/compliance/check", body);
      save({ text: body.text, kind: body.kind, result });
      renderResult(result, out);
    } catch (err) {
      out.replaceChildren(el("div", { class: "error", role: "alert" }, `检查失败：${err.message}`));
    } finally {
      submit.disabled = false;
    }
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); run(); }
  });
  root.replaceChildren(el("h1", {}, "合规检查"),
    el("p", { class: "muted" }, "发给客户之前检查：承诺收益、夸大宣传、与条款不符、推荐停售产品等，每条都给出违反的法规条文。"),
    form, out, rulesPanel());
  if (state.pending) { save({ text: state.text, kind: state.kind }); run(); } // once, even if it fails
  else if (state.result && state.text === text.value) { out.dataset.input = state.text; renderResult(state.result, out); }
  else text.focus();
}
