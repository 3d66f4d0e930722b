// The delete review view (README "In an MCP App: the person clicks Delete"). It runs in the host's
// sandboxed frame as an MCP App (@modelcontextprotocol/ext-apps): the host sends it the
// result of a permanent delete's first call; the view asks the server, through the app-only
// tool app_review_delete, for the items read again and a sealed approval, shows them, and
// passes the approval to app_decide_delete when the person presses Delete or Cancel. The
// model never sees the approval. Every value from Tallyfy is set with textContent, never as
// HTML.
import { App, PostMessageTransport } from "@modelcontextprotocol/ext-apps";

const $ = (id) => document.getElementById(id);
const app = new App({ name: "tallyfy-delete-review", version: "1.0.0" }, {});
let review = null;
let lastRequest = null;

function show(id, on) {
  $(id).hidden = !on;
}

function status(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.className = kind || "";
}

function textOf(result) {
  return (result?.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join(" ");
}

// What the first call's result asks the view to review, or null.
function reviewRequest(sc) {
  if (!sc) return null;
  if (sc.confirmation === "app" && sc.preview) return { type: sc.preview.type, ids: [sc.preview.id], bulk: false };
  if (sc.status === "planned" && sc.action === "delete" && !sc.plan_token && Array.isArray(sc.items)) {
    const ids = sc.items.filter((i) => i.outcome === "planned").map((i) => i.id);
    return ids.length ? { type: sc.type, ids, bulk: true } : null;
  }
  return null;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  row.appendChild(td);
}

function fillTable(items) {
  const body = $("items").tBodies[0];
  body.replaceChildren();
  for (const it of items) {
    const tr = document.createElement("tr");
    if (it.outcome !== "planned") tr.className = "skipped";
    cell(tr, it.name || it.id);
    cell(tr, it.outcome === "planned" ? it.state : `${it.state || "?"} (skipped: ${it.reason || ""})`);
    cell(tr, it.last_updated);
    body.appendChild(tr);
  }
  show("items", true);
}

function render(r) {
  review = r;
  fillTable(r.items);
  const noun = r.count === 1 ? "item" : "items";
  const destroys = r.count === 1 ? `This destroys ${r.destroys}` : `For each, this destroys ${r.destroys}`;
  let effect = `${r.count} ${noun} will be permanently deleted. ${destroys}. It cannot be undone.`;
  effect += r.deletes_left >= 0 ? ` Budget: uses ${r.count} of the ${r.deletes_left} permanent deletes left this hour.` : " Budget: no hourly cap.";
  $("effect").textContent = effect;
  $("delete").textContent = `Delete ${r.count} ${noun}`;
  $("count-hint").textContent = String(r.count);
  show("count-label", r.type_count);
  $("count").value = "";
  $("count").disabled = false;
  $("cancel").disabled = false;
  $("delete").disabled = r.type_count;
  status("Review what will be destroyed, then press Delete or Cancel.");
}

async function decide(decision) {
  if (!review) return;
  $("delete").disabled = true;
  $("cancel").disabled = true;
  $("count").disabled = true;
  status(decision === "delete" ? "Deleting…" : "Cancelling…");
  const args = { approval: review.approval, ids: review.ids, decision };
  if (review.type_count) args.count = Number($("count").value.trim());
  let result;
  try {
    result = await app.callServerTool({ name: "app_decide_delete", arguments: args });
  } catch (err) {
    status(`The decision could not be sent: ${err?.message ?? err}. Nothing is known to be deleted.`, "error");
    return;
  }
  review = null;
  const text = result.structuredContent?.message || textOf(result);
  if (result.isError && /expired/.test(text) && lastRequest) {
    // The person took longer than the approval lasts: nothing was deleted; show it afresh.
    await loadReview(lastRequest, "The approval expired before the click, and nothing was deleted. Here is the current state: review it again.");
    return;
  }
  status(text, result.isError ? "error" : "done");
  $("outcome").textContent = result.isError ? "" : outcomeWord(result.structuredContent);
  // Tell the model what the person decided (the host adds it to the model's context).
  app.updateModelContext({ content: [{ type: "text", text: `Delete review: ${text}` }] }).catch(() => {});
}

function outcomeWord(sc) {
  if (!sc) return "";
  if (sc.status === "deleted") return "Deleted.";
  if (sc.status === "cancelled") return "Cancelled: nothing was deleted.";
  if (sc.totals) return `Deleted ${sc.totals.ok} of ${sc.items.length}.`;
  return "";
}

$("count").addEventListener("input", () => {
  if (review) $("delete").disabled = $("count").value.trim() !== String(review.count);
});
$("delete").addEventListener("click", () => decide("delete"));
$("cancel").addEventListener("click", () => decide("cancel"));

app.ontoolresult = async (params) => {
  const req = reviewRequest(params.structuredContent);
  if (!req) {
    status(params.structuredContent?.message || textOf(params) || "Nothing to review.");
    return;
  }
  // Show what the model's call returned at once; the buttons wait for the fresh read.
  const items = params.structuredContent.preview ? [{ ...params.structuredContent.preview, outcome: "planned" }] : params.structuredContent.items;
  fillTable(items);
  await loadReview(req);
};

// loadReview reads the items again through the app-only tool and shows them with the buttons.
async function loadReview(req, note) {
  lastRequest = req;
  status("Reading the items again…");
  let r;
  try {
    r = await app.callServerTool({ name: "app_review_delete", arguments: req });
  } catch (err) {
    status(`The review could not be loaded: ${err?.message ?? err}. Nothing was deleted.`, "error");
    return;
  }
  if (r.isError || !r.structuredContent?.approval) {
    status(textOf(r) || "The review could not be loaded. Nothing was deleted.", "error");
    return;
  }
  render(r.structuredContent);
  if (note) status(note);
}

app.connect(new PostMessageTransport(window.parent, window.parent)).catch((err) => {
  status(`Could not connect to the host: ${err?.message ?? err}`, "error");
});
