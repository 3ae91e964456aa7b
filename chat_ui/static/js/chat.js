// Chat for brokers: streamed answers, citation chips, red banners for products off sale,
// history kept for the browser session, copy with sources, starter questions.
import { ApiError, stream } from "./api.js";
import { openCompliance } from "./compliance.js";
import { docLink, el, flagBanner, STATUS } from "./dom.js";

const KEY = "brokerkg.chat";
const STARTERS = ["康宁2019的等待期多久？", "保险法第十六条说什么", "酒驾出事意外险赔不赔", "守护定寿还能卖吗？", "对比康宁2023和安享重疾", "58岁还能买哪些重疾险？"];

function load() {
  try { return JSON.parse(sessionStorage.getItem(KEY)) || { conversationId: null, turns: [] }; }
  catch { return { conversationId: null, turns: [] }; }
}
function save(state) { sessionStorage.setItem(KEY, JSON.stringify(state)); }

export function openPassage(c) {
  const dialog = document.getElementById("passage");
  document.getElementById("passage-title").textContent = c.title;
  document.getElementById("passage-locator").textContent = `${c.locator || ""}${c.filing_no ? ` · ${c.filing_no}` : ""}`;
  document.getElementById("passage-text").textContent = c.text;
  document.getElementById("passage-link").href = docLink(c.doc_id, c.locator);
  dialog.showModal();
}

// Answer text with each [n] turned into a chip that opens citation n.
function answerBody(text, citations) {
  const body = el("div", { class: "a" });
  const byN = new Map(citations.map((c) => [c.n, c]));
  let last = 0;
  for (const m of text.matchAll(/\[(\d+)\]/g)) {
    body.append(text.slice(last, m.index));
    const c = byN.get(Number(m[1]));
    body.append(c ? el("button", { class: "chip", type: "button", title: `${c.title} ${c.locator}`, onclick: () => openPassage(c) }, `[${m[1]}]`) : m[0]);
    last = m.index + m[0].length;
  }
  body.append(text.slice(last));
  return body;
}

function chipFor(n, citations) {
  const c = citations.find((x) => x.n === n);
  return c ? el("button", { class: "chip", type: "button", title: `${c.title} ${c.locator}`, onclick: () => openPassage(c) }, `[${n}]`) : "";
}

// Comparison and matching answers: the facts as a table, every value with its citation chip.
function factsTable(table, citations) {
  if (table.kind === "compare") {
    const head = el("tr", {}, el("th", {}, "项目"), table.products.map((p) =>
      el("th", { scope: "col" }, p.name, p.status !== "on_sale" ? el("span", { class: "off-sale" }, ` ${STATUS[p.status] || p.status}`) : "")));
    const rows = table.rows.map((row) => el("tr", {}, el("th", { scope: "row" }, row.label), row.cells.map((cell) =>
      el("td", {}, cell ? [cell.display, " ", chipFor(cell.n, citations)] : el("span", { class: "muted" }, "条款未载明")))));
    return el("table", { class: "facts compare" }, el("thead", {}, head), el("tbody", {}, rows));
  }
  const rows = table.rows.map((row) => el("tr", {}, el("th", { scope: "row" }, row.name),
    el("td", {}, row.facts.map((f) => el("span", { class: "fact" }, `${f.display}`, " ", chipFor(f.n, citations), " ")))));
  return el("table", { class: "facts match" }, el("tbody", {}, rows));
}

function plainAnswer(text) {
  // the banners show the warnings; the answer body shows the rest
  return text.split("\n").filter((line) => !line.startsWith("⚠ 注意：")).join("\n");
}

function copyText(turn) {
  const lines = [`问：${turn.question}`, `答：${turn.answer}`];
  if (turn.citations.length) {
    lines.push("参考来源：", ...turn.citations.map((c) => `[${c.n}] 《${c.title}》${c.locator}${c.filing_no ? `（${c.filing_no}）` : ""}`));
  }
  return lines.join("\n");
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = el("textarea", {}, text);
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  button.textContent = "已复制";
  setTimeout(() => { button.textContent = "复制答案和出处"; }, 1500);
}

function renderTurn(turn) {
  const box = el("article", { class: "turn", "data-state": turn.state || "done" });
  box.append(el("div", { class: "q" }, turn.question));
  if (turn.resolved) box.append(el("div", { class: "resolved" }, `按上文理解为：${turn.resolved}`));
  for (const flag of turn.flags || []) box.append(flagBanner(flag));
  if (turn.error) {
    box.append(el("div", { class: "error", role: "alert" }, `出错了：${turn.error}`));
    return box;
  }
  if (turn.table && turn.state === "done") {
    const lines = plainAnswer(turn.answer).split("\n");
    const rest = turn.table.kind === "match" ? lines.filter((l) => l.startsWith("不符合")) : [];
    box.append(answerBody(lines[0], turn.citations || []), factsTable(turn.table, turn.citations || []));
    if (rest.length) box.append(el("div", { class: "a muted" }, rest.join("\n")));
  } else {
    box.append(answerBody(plainAnswer(turn.answer || "检索中…"), turn.citations || []));
  }
  if (turn.citations && turn.citations.length) {
    box.append(el("ol", { class: "sources" }, turn.citations.map((c) =>
      el("li", { value: c.n }, el("a", { href: docLink(c.doc_id, c.locator) }, `${c.title} ${c.locator}`),
        c.filing_no ? el("span", { class: "muted" }, ` ${c.filing_no}`) : "",
        sourceStatus(c), " ", el("button", { class: "chip", type: "button", onclick: () => openPassage(c) }, "原文")))));
  }
  if (turn.state === "done") {
    const button = el("button", { class: "secondary", type: "button", onclick: (e) => copy(copyText(turn), e.target) }, "复制答案和出处");
    // A comparison answer is checked as a comparison; the citation markers are not the broker's words.
    const kind = turn.table && turn.table.kind === "compare" ? "comparison" : "message";
    const check = el("button", { class: "secondary check", type: "button", "aria-label": "合规检查这条回答",
      onclick: () => openCompliance(turn.answer.replace(/\[\d+\]/g, ""), kind) }, "合规检查");
    box.append(el("div", { class: "actions" }, button, check, el("span", { class: "mode" }, turn.mode === "generated" ? "模型生成·已核验引用" : "原文摘录")));
  }
  return box;
}

export function chatView(root) {
  const state = load();
  const log = el("section", { id: "log" });
  const input = el("input", { id: "q", name: "question", autocomplete: "off", placeholder: "例如：康宁2019的等待期是多久？", maxlength: "2000", required: true, "aria-label": "问题" });
  const form = el("form", { class: "ask" }, input, el("button", { type: "submit" }, "提问"));
  const clear = el("button", { class: "secondary", type: "button", onclick: () => { sessionStorage.removeItem(KEY); chatView(root); } }, "新对话");

  function render() {
    log.replaceChildren();
    if (!state.turns.length) {
      log.append(el("p", { class: "empty" }, "还没有问题。问法规、条款或理赔案例，回答都带出处；停售产品会以红色提示并给出替代产品。"));
      log.append(el("div", { class: "starters" }, STARTERS.map((q) => el("button", { type: "button", onclick: () => ask(q) }, q))));
    }
    for (const turn of state.turns) log.append(renderTurn(turn));
  }

  async function ask(question) {
    const turn = { question, answer: "", citations: [], flags: [], state: "streaming" };
    state.turns.push(turn);
    render();
    const live = () => { log.lastChild.replaceWith(renderTurn(turn)); };
    try {
      await stream("/v1/ask", { question, conversation_id: state.conversationId || undefined }, (kind, data) => {
        if (kind === "meta") state.conversationId = data.conversation_id;
        else if (kind === "token") turn.answer += data.text;
        else if (kind === "replace") turn.answer = data.text;
        else if (kind === "citations") turn.citations = data.citations;
        else if (kind === "flags") turn.flags = data.flags;
        else if (kind === "done") { turn.answer = data.answer; turn.mode = data.mode; turn.resolved = data.resolved_question; turn.table = data.table; }
        else if (kind === "error") throw new ApiError(data.error.message);
        live();
      });
      turn.state = "done";
    } catch (err) {
      turn.state = "done";
      turn.error = err instanceof ApiError ? err.message : "出现意外错误，请重试。";
    }
    save(state);
    live();
    log.lastChild.scrollIntoView({ block: "end" });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question) return;
    input.value = "";
    ask(question);
  });
  root.replaceChildren(el("div", { class: "bar" }, el("h1", {}, "经纪人助手"), clear), log, form);
  render();
  input.focus();
}

// A source about a product that is off sale says so (a claim case raises no banner, but its product's status shows).
function sourceStatus(c) {
  if (!c.product_id || !c.product_status || c.product_status === "on_sale") return "";
  const what = c.doc_type === "case" ? `涉及产品 ${c.product_id}` : c.product_id;
  return el("span", { class: "off-sale" }, ` （${what}${STATUS[c.product_status] || c.product_status}）`);
}
