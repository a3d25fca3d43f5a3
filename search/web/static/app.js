// Accord's page. The address holds the whole state (/?q=...&country=...&article=ID), so a
// shared link shows the same view and the back button walks back through searches.
// Article text only ever reaches the page through textContent and text nodes, never as HTML.
"use strict";

const LIST_PARAMS = ["country", "source"];
const SCALAR_PARAMS = ["q", "mode", "sort", "since", "until", "copies", "article", "similar"];
const $ = (id) => document.getElementById(id);
let chart = null;
let renderCount = 0; // a newer render makes an older one's late answers moot

// ---- state <-> address -------------------------------------------------------------------

function readState() {
  const params = new URLSearchParams(location.search);
  const state = { country: params.getAll("country"), source: params.getAll("source") };
  for (const name of SCALAR_PARAMS) state[name] = params.get(name) || "";
  return state;
}

function stateUrl(state) {
  const params = new URLSearchParams();
  for (const name of SCALAR_PARAMS) {
    if (state[name]) params.set(name, state[name]);
  }
  for (const name of LIST_PARAMS) for (const value of state[name] || []) params.append(name, value);
  const text = params.toString();
  return text ? "/?" + text : "/";
}

function go(state) {
  const url = stateUrl(state);
  if (url !== location.pathname + location.search) history.pushState(null, "", url);
  render();
}

// The filters and options of a search, without the view (article, similar).
function searchState(state) {
  const { article, similar, ...rest } = state;
  return { ...rest, article: "", similar: "" };
}

function apiParams(state, names) {
  const params = new URLSearchParams();
  for (const name of names) if (state[name]) params.set(name, state[name]);
  for (const name of LIST_PARAMS) for (const value of state[name]) params.append(name, value);
  if (state.copies) params.set("collapse", "false");
  return params;
}

async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON: reported below */ }
  if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  return body;
}

// ---- small DOM helpers -------------------------------------------------------------------

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  if (props) for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

// The snippet as text nodes with <mark> around the highlighted spans. Offsets count Unicode
// code points (Python's str indices), hence Array.from rather than UTF-16 string indices.
function highlighted(text, spans) {
  const chars = Array.from(text);
  const parts = [];
  let last = 0;
  for (const [start, end] of spans) {
    if (start < last || end > chars.length) continue;
    parts.push(document.createTextNode(chars.slice(last, start).join("")));
    parts.push(el("mark", { text: chars.slice(start, end).join("") }));
    last = end;
  }
  parts.push(document.createTextNode(chars.slice(last).join("")));
  return el("p", { class: "snippet" }, ...parts);
}

function link(text, state) {
  return el("a", {
    href: stateUrl(state), text,
    onclick: (event) => {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      go(state);
    },
  });
}

function metaLine(item) {
  const parts = [item.date || "undated", item.source, (item.countries || []).join(", ")];
  if (typeof item.score === "number") parts.push("score " + item.score.toFixed(3));
  return el("p", { class: "meta", text: parts.filter(Boolean).join(" · ") });
}

function showError(message) {
  $("error").hidden = !message;
  $("error").textContent = message || "";
}

// ---- views -------------------------------------------------------------------------------

function fillForm(state) {
  $("q").value = state.q;
  $("mode").value = state.mode || "hybrid";
  $("sort").value = state.sort || "relevance";
  $("since").value = state.since;
  $("until").value = state.until;
  $("copies").checked = Boolean(state.copies);
  $("add-country").value = "";
  $("add-source").value = "";
  const chips = [];
  for (const name of LIST_PARAMS) for (const value of state[name]) {
    const without = { ...searchState(state), [name]: state[name].filter((v) => v !== value) };
    chips.push(el("li", null, `${name}: ${value}`,
      el("button", { type: "button", "aria-label": `remove ${name} ${value}`, text: "×", onclick: () => go(without) })));
  }
  $("filters").replaceChildren(...chips);
}

function hitItem(hit, state) {
  const item = el("li", { class: "hit", "data-id": hit.id },
    el("h3", null, link(hit.title, { ...searchState(state), article: hit.id })),
    metaLine(hit),
    highlighted(hit.snippet, hit.highlights));
  if (hit.duplicates.length) {
    const copies = hit.duplicates.map((id) => el("li", null, link(id, { ...searchState(state), article: id })));
    const noun = hit.duplicates.length === 1 ? "copy" : "copies";
    item.append(el("details", null, el("summary", { text: `and ${hit.duplicates.length} ${noun}` }), el("ul", null, ...copies)));
  }
  return item;
}

function facetList(title, counts, toState) {
  if (!counts.length) return null;
  const items = counts.slice(0, 12).map(([value, count]) => el("li", null,
    el("button", { type: "button", class: "facet", "data-value": value, onclick: () => go(toState(value)) },
      el("span", { text: value }), el("span", { class: "count", text: String(count) }))));
  return el("section", null, el("h3", { text: title }), el("ul", null, ...items));
}

function showFacets(facets, state) {
  const base = searchState(state);
  const add = (name) => (value) => ({ ...base, [name]: base[name].includes(value) ? base[name] : [...base[name], value] });
  $("facets").replaceChildren(...[
    facetList("Countries", facets.countries, add("country")),
    facetList("Years", facets.years.filter(([year]) => /^\d{4}$/.test(year)), (year) => ({ ...base, since: year, until: year })),
    facetList("Sources", facets.sources.filter(([source]) => source !== "unknown"), add("source")),
  ].filter(Boolean));
}

function showChart(months) {
  const box = $("chart-box");
  box.hidden = !months.months.length || typeof Chart === "undefined";
  if (box.hidden) return;
  const data = {
    labels: months.months.map(([month]) => month),
    datasets: [{ label: "articles", data: months.months.map(([, count]) => count), backgroundColor: "#1f4e79" }],
  };
  if (chart) chart.destroy();
  chart = new Chart($("chart"), {
    type: "bar", data,
    options: {
      animation: false, maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
}

function showHits(result, state, heading) {
  $("results-heading").hidden = !heading;
  $("results-heading").textContent = heading || "";
  $("results").replaceChildren(...result.hits.map((hit) => hitItem(hit, state)));
  const total = result.facets ? ` of ${result.facets.total} candidates` : "";
  const ms = Math.round((result.timings.total || 0) * 1000);
  const notes = result.notes.length ? " · " + result.notes.join(" ") : "";
  $("status").textContent = `${result.hits.length} results${total} · ${ms} ms · index ${result.generation}${notes}`;
}

function showView(name) {
  $("results-view").hidden = name !== "results";
  $("article-view").hidden = name !== "article";
}

async function renderSearch(state, ticket) {
  const params = apiParams(state, ["q", "mode", "sort", "since", "until"]);
  params.set("facets", "true");
  const monthParams = apiParams(state, ["q", "mode", "since", "until"]);
  monthParams.delete("collapse");
  const [result, months] = await Promise.all([
    getJson("/api/search?" + params), getJson("/api/months?" + monthParams),
  ]);
  if (ticket !== renderCount) return;
  showView("results");
  showHits(result, state, "");
  showFacets(result.facets, state);
  showChart(months);
}

async function renderSimilar(state, ticket) {
  const params = apiParams(state, ["since", "until"]);
  const id = encodeURIComponent(state.similar);
  const [result, article] = await Promise.all([getJson(`/api/similar/${id}?` + params), getJson(`/api/articles/${id}`)]);
  if (ticket !== renderCount) return;
  showView("results");
  $("chart-box").hidden = true;
  $("facets").replaceChildren();
  showHits(result, state, "More like: " + article.title);
}

async function renderArticle(state, ticket) {
  const article = await getJson("/api/articles/" + encodeURIComponent(state.article));
  if (ticket !== renderCount) return;
  showView("article");
  $("article-title").textContent = article.title;
  $("article-meta").replaceWith(Object.assign(metaLine(article), { id: "article-meta" }));
  const paragraphs = article.body.split(/\n+/).filter((line) => line.trim());
  $("article-body").replaceChildren(...paragraphs.map((line) => el("p", { text: line })));
  // More like this looks through the whole index: the search's filters are left behind.
  const more = { q: state.q, mode: state.mode, country: [], source: [], similar: article.id };
  $("more-like-this").replaceWith(Object.assign(link("More like this", more), { id: "more-like-this" }));
  const url = $("article-url");
  const safe = /^https?:\/\//i.test(article.url || "");
  url.hidden = !safe;
  if (safe) url.href = article.url;
  $("status").textContent = `article ${article.id}`;
}

async function render() {
  const ticket = ++renderCount;
  const state = readState();
  fillForm(state);
  showError("");
  try {
    if (state.article) await renderArticle(state, ticket);
    else if (state.similar) await renderSimilar(state, ticket);
    else if (state.q) await renderSearch(state, ticket);
    else {
      showView("none");
      $("status").textContent = "Type a query and press Enter. Press / to come back to the search box.";
    }
  } catch (err) {
    if (ticket !== renderCount) return;
    showView("none");
    $("status").textContent = "";
    showError(err.message);
  }
}

// ---- events ------------------------------------------------------------------------------

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const state = searchState(readState());
  state.q = $("q").value.trim();
  state.mode = $("mode").value === "hybrid" ? "" : $("mode").value;
  state.sort = $("sort").value === "relevance" ? "" : $("sort").value;
  state.since = $("since").value.trim();
  state.until = $("until").value.trim();
  state.copies = $("copies").checked ? "1" : "";
  for (const name of LIST_PARAMS) {
    const typed = $("add-" + name).value.trim();
    if (typed && !state[name].includes(typed)) state[name] = [...state[name], typed];
  }
  go(state);
});

$("back").addEventListener("click", (event) => {
  event.preventDefault();
  go(searchState(readState()));
});

document.addEventListener("keydown", (event) => {
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
    event.preventDefault();
    $("q").focus();
    $("q").select();
  }
});

window.addEventListener("popstate", render);
render();
