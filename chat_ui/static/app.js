// Minimal chat: POST /v1/ask, show the answer, its flags and its numbered sources.
const log = document.getElementById("log");
const form = document.getElementById("ask");
const input = document.getElementById("q");

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const question = input.value.trim();
  if (!question) return;
  const turn = el("div", "turn");
  turn.append(el("div", "q", question));
  const answer = el("div", "a", "检索中…");
  turn.append(answer);
  log.append(turn);
  input.value = "";
  try {
    const response = await fetch("/v1/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question }),
    });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error ? data.error.message : response.statusText);
    answer.textContent = data.answer;
    for (const flag of data.flags) turn.insertBefore(el("div", "flag", flag.message), answer);
    const cites = el("div", "cites");
    for (const c of data.citations) {
      const d = el("details");
      d.append(el("summary", "", `[${c.n}] ${c.title} ${c.locator}`));
      d.append(el("div", "", c.text));
      cites.append(d);
    }
    turn.append(cites);
  } catch (err) {
    answer.className = "a error";
    answer.textContent = `出错了：${err.message}`;
  }
});
