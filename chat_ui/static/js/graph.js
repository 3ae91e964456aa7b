// A small picture of a product's neighbourhood: product → clauses → cited articles, and cases, as SVG.
const NS = "http://www.w3.org/2000/svg";
const COLUMN = { product: 0, clause: 1, article: 2, case: 3 };
const COLOR = { product: "#0b57d0", clause: "#6a4fb3", article: "#146c2e", case: "#b06000" };

function node(tag, attrs) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  return n;
}

export function graphPicture(graph, centre, onOpen) {
  const columns = [[], [], [], []];
  for (const n of graph.nodes) {
    const col = n.kind === "product" && n.id !== centre ? 0 : COLUMN[n.kind];
    columns[col].push(n);
  }
  const rowH = 34, colW = 190, top = 24;
  const height = top + Math.max(...columns.map((c) => c.length), 1) * rowH + 10;
  const svg = node("svg", { class: "graph", viewBox: `0 0 ${colW * 4} ${height}`, role: "img", "aria-label": "产品关系图" });
  const titles = ["产品", "条款", "引用的法条", "相关案例"];
  titles.forEach((t, i) => { const label = node("text", { x: i * colW + 8, y: 14, fill: "#6b6b70" }); label.textContent = t; svg.append(label); });
  const pos = new Map();
  columns.forEach((col, i) => col.forEach((n, j) => pos.set(n.id, { x: i * colW + 8, y: top + j * rowH })));
  for (const e of graph.edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    const [l, r] = a.x <= b.x ? [a, b] : [b, a];
    svg.append(node("line", { x1: l.x + 170, y1: l.y + 12, x2: r.x, y2: r.y + 12, stroke: e.kind === "REPLACED_BY" ? "#b3261e" : "#b8b8c0", "stroke-width": 1.2 }));
  }
  for (const n of graph.nodes) {
    const p = pos.get(n.id);
    const g = node("g", { class: `node node-${n.kind}`, tabindex: 0, "data-id": n.id });
    const off = n.kind === "product" && n.status && n.status !== "on_sale";
    g.append(node("rect", { x: p.x, y: p.y, width: 170, height: 24, rx: 6, fill: "#fff", stroke: off ? "#b3261e" : COLOR[n.kind], "stroke-width": n.id === centre ? 2.5 : 1.2 }));
    const label = node("text", { x: p.x + 6, y: p.y + 16, fill: COLOR[n.kind] });
    label.textContent = n.label.length > 14 ? n.label.slice(0, 13) + "…" : n.label;
    const tip = node("title", {}); tip.textContent = n.label;
    g.append(label, tip);
    g.addEventListener("click", () => onOpen(n));
    svg.append(g);
  }
  return svg;
}
