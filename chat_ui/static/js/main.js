// Hash router: #/chat, #/search, #/compliance, #/product/ID, #/doc/ID?loc=…, #/alerts
import { alertsView, refreshBadge, startBadge } from "./alerts.js";
import { chatView } from "./chat.js";
import { complianceView } from "./compliance.js";
import { docView } from "./doc.js";
import { productView } from "./product.js";
import { searchView } from "./search.js";

const view = document.getElementById("view");

function route() {
  const hash = location.hash || "#/chat";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === parts[0]));
  const dialog = document.getElementById("passage");
  if (dialog.open) dialog.close();
  if (parts[0] === "search") searchView(view);
  else if (parts[0] === "alerts") alertsView(view);
  else if (parts[0] === "compliance") complianceView(view);
  else if (parts[0] === "product" && parts[1]) productView(view, parts[1]);
  else if (parts[0] === "doc" && parts[1]) docView(view, parts[1], params.get("loc"));
  else chatView(view);
  window.scrollTo(0, 0);
  refreshBadge();
}

window.addEventListener("hashchange", route);
route();
startBadge();
