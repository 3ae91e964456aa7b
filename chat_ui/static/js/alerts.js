// Stop-sale alerts: the badge in the header (unread count) and the inbox (#/alerts), each alert with
// the product, how recent the change is and a link to the successor's page.
import { call, peek } from "./api.js";
import { el } from "./dom.js";

const KIND = { stop_sale: "停售提醒", correction: "更正" };
const POLL_MS = 60000;

// The header badge: the unread count, refreshed on every page change and once a minute.
// Refreshes can overlap (a page change and a just-read alert): only the latest one started may
// set the count, or an older answer arriving last would show a count from before the read.
let badgeRequest = 0;
export async function refreshBadge() {
  const badge = document.getElementById("alerts-badge");
  const count = badge.querySelector(".count");
  const mine = ++badgeRequest;
  const page = await peek("/v1/alerts?unread=true&limit=1");
  if (mine !== badgeRequest) return; // a newer refresh is under way: its answer is the one to show
  if (!page) return; // no key yet, or the server is away: the badge stays as it was
  count.textContent = page.unread ? String(page.unread) : "";
  badge.classList.toggle("has-unread", page.unread > 0);
  badge.setAttribute("aria-label", page.unread ? `停售提醒（${page.unread}条未读）` : "停售提醒");
}

export function startBadge() {
  setInterval(refreshBadge, POLL_MS); // the router refreshes it on every page change
}

function productLink(productId, name, cls) {
  return el("a", { href: `#/product/${encodeURIComponent(productId)}`, class: cls }, `${name}（${productId}）`);
}

function alertItem(a, onRead) {
  // The button re-draws the inbox; following the successor link only marks it (the page is leaving).
  const read = async () => {
    if (!a.read_at) await call("POST", `/v1/alerts/${encodeURIComponent(a.alert_id)}/read`);
  };
  const markRead = async () => { await read(); onRead(); };
  const followed = async () => { await read(); refreshBadge(); };
  const item = el("li", { class: `alert-item${a.read_at ? "" : " unread"}`, "data-product": a.product_id, "data-kind": a.kind },
    el("div", { class: "alert-head" }, el("span", { class: `alert-kind ${a.kind}` }, KIND[a.kind] || a.kind), " ",
      productLink(a.product_id, a.name, "product")),
    el("p", { class: "alert-message" }, a.message),
    a.successor && a.kind === "stop_sale"
      ? el("p", {}, "替代产品：", el("a", { href: `#/product/${encodeURIComponent(a.successor.product_id)}`, class: "successor", onclick: followed },
        `${a.successor.name}（${a.successor.product_id}）`))
      : "",
    el("p", { class: "muted alert-meta" }, `${a.created_at.slice(0, 10)} · 依据 ${a.audit_records.length} 条问答记录`),
    a.read_at ? "" : el("button", { type: "button", class: "secondary mark-read", onclick: markRead }, "标为已读"));
  return item;
}

export async function alertsView(root) {
  root.replaceChildren(el("p", { class: "muted" }, "加载中…"));
  let page;
  try { page = await call("GET", "/v1/alerts"); }
  catch (err) { root.replaceChildren(el("div", { class: "error", role: "alert" }, `无法读取提醒：${err.message}`)); return; }
  const again = () => { refreshBadge(); alertsView(root); };
  root.replaceChildren(
    el("h1", {}, "停售提醒"),
    el("p", { class: "muted" }, "您曾咨询、比较或查看过的产品停售（或恢复销售）时，这里会提醒您。"),
    page.alerts.length
      ? el("ol", { class: "alerts" }, page.alerts.map((a) => alertItem(a, again)))
      : el("p", { class: "empty" }, "没有提醒。"));
}
