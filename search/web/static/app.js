// Accord's page. The address holds the whole state (/?q=...&country=...&article=ID), so a
// shared link shows the same view and the back button walks back through searches.
// Article text only ever reaches the page through textContent and text nodes, never as HTML.
// Besides the hits, a search shows its matches per month or year (the timeline), the country
// pairs of its matches (view=pairs), and the saved searches; watch=REF (a saved search, see savedOwner) marks the hits that
// entered that saved search's matches since the analyst last marked them as seen.
// Results come a page at a time (page=N, k=hits per page): Previous and Next step through them,
// and the Export link downloads the whole result set as CSV.
"use strict";

// Defence-fact filters (system, organisation, person, kind of cooperation): every route the page
// calls with filters takes them (search, export, timeline, pairs, similar, saved searches).
const ENTITY_PARAMS = ["system", "org", "person", "kind"];
const LIST_PARAMS = ["country", "source", ...ENTITY_PARAMS];
const SCALAR_PARAMS = ["q", "mode", "sort", "since", "until", "copies", "article", "similar", "view", "by", "watch", "page", "k", "top"];
const PAGE_SIZE = 10; // hits per page unless the address says k=
const FILTER_PARAMS = ["q", "since", "until", "country", "source", ...ENTITY_PARAMS]; // what a saved search keeps
const MAX_MONTH_BARS = 60; // longer timelines are drawn per year unless per month is asked for
const MATRIX_COUNTRIES = 12;
const ALERTS_LISTED = 20; // new matches listed above the results; all are marked in them
const $ = (id) => document.getElementById(id);
let chart = null;
let renderCount = 0; // a newer render makes an older one's late answers moot

// ---- state <-> address -------------------------------------------------------------------

function readState() {
  const params = new URLSearchParams(location.search);
  const state = {};
  for (const name of LIST_PARAMS) state[name] = params.getAll(name);
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

function apiParams(state, names, entities = false) {
  const params = new URLSearchParams();
  for (const name of names) if (state[name]) params.set(name, state[name]);
  for (const name of LIST_PARAMS) {
    if (entities || !ENTITY_PARAMS.includes(name)) for (const value of state[name]) params.append(name, value);
  }
  if (state.copies) params.set("collapse", "false");
  return params;
}

async function getJson(path, options) {
  const response = await fetch(path, { ...options, headers: { Accept: "application/json", ...(options || {}).headers } });
  if (response.status === 204) return null;
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
  // The cosine means the same for every query; the fused score only ranks within this one.
  const found = item.relevance;
  if (found && typeof found.cosine === "number") parts.push("match " + found.cosine.toFixed(2));
  else if (typeof item.score === "number") parts.push("score " + item.score.toFixed(3));
  if (found && found.missing.length) parts.push("missing: " + found.missing.join(", "));
  return el("p", { class: "meta", text: parts.filter(Boolean).join(" · ") });
}

function showError(message) {
  $("error").hidden = !message;
  $("error").textContent = message || "";
}

// ---- views -------------------------------------------------------------------------------

// A search with other filters is no longer the saved search being watched: drop `watch`; its
// results start again at their first page.
function refine(state, changes) {
  return { ...searchState(state), view: "", watch: "", page: "", ...changes };
}

// The page size and offset of the state's page, for the API (page=1 and the default size are
// left out of the address).
function paging(state) {
  const k = Math.min(Math.max(parseInt(state.k, 10) || PAGE_SIZE, 1), 100);
  const page = Math.max(parseInt(state.page, 10) || 1, 1);
  return { k, offset: (page - 1) * k };
}

// "hits 11-20 of about 143", with links to the pages around this one (the API says whether
// there is a next or previous page).
function showPager(result, state) {
  const { k } = paging(state);
  const first = result.offset + 1;
  const last = result.offset + result.hits.length;
  const about = result.complete ? "" : "about ";
  const text = result.hits.length ? `hits ${first}-${last} of ${about}${result.total}` : `no hits after the first ${result.total}`;
  const pageOf = (offset) => {
    const page = Math.floor(offset / k) + 1;
    return { ...state, page: page === 1 ? "" : String(page) };
  };
  const previous = result.previous_offset === null ? null
    : Object.assign(link("← Previous", pageOf(result.previous_offset)), { id: "prev-page", rel: "prev" });
  const next = result.next_offset === null ? null
    : Object.assign(link("Next →", pageOf(result.next_offset)), { id: "next-page", rel: "next" });
  $("pager").replaceChildren(...[previous, el("span", { id: "page-info", text }), next].filter(Boolean));
  $("pager").hidden = !previous && !next && !result.offset;
  $("results").setAttribute("start", String(first));
  return text;
}

function withCountries(state, names) {
  const countries = [...state.country];
  for (const name of names) if (!countries.includes(name)) countries.push(name);
  return refine(state, { country: countries });
}

function sameFilters(a, b) {
  return FILTER_PARAMS.every((name) => JSON.stringify(a[name]) === JSON.stringify(b[name]));
}

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
    const without = refine(state, { view: state.view, [name]: state[name].filter((v) => v !== value) });
    chips.push(el("li", null, `${name}: ${value}`,
      el("button", { type: "button", "aria-label": `remove ${name} ${value}`, text: "×", onclick: () => go(without) })));
  }
  $("filters").replaceChildren(...chips);
}

function hitItem(hit, state, fresh) {
  const isNew = fresh.has(hit.id) || hit.duplicates.some((id) => fresh.has(id));
  const item = el("li", { class: isNew ? "hit new" : "hit", "data-id": hit.id },
    el("h3", null, isNew ? el("span", { class: "badge-new", text: "new" }) : null,
      link(hit.title, { ...searchState(state), article: hit.id })),
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
  const base = refine(state, { view: state.view });
  const add = (name) => (value) => ({ ...base, [name]: base[name].includes(value) ? base[name] : [...base[name], value] });
  $("facets").replaceChildren(...[
    facetList("Countries", facets.countries, add("country")),
    facetList("Years", facets.years.filter(([year]) => /^\d{4}$/.test(year)), (year) => ({ ...base, since: year, until: year })),
    facetList("Sources", facets.sources.filter(([source]) => source !== "unknown"), add("source")),
    facetList("Systems", facets.systems || [], add("system")),
    facetList("Organisations", facets.organisations || [], add("org")),
    facetList("People", facets.people || [], add("person")),
    facetList("Kinds of cooperation", facets.kinds || [], add("kind")),
  ].filter(Boolean));
}

// The timeline: matches per month (or per year when months are many or asked for), with the
// undated matches said in the caption. Clicking a bar narrows the search to that period.
function showTimeline(timeline, state) {
  const box = $("chart-box");
  if (chart) { chart.destroy(); chart = null; }
  $("chart-frame").hidden = Boolean(timeline.error);
  if (timeline.error) {
    // The views rank with the model: an index whose model this server lacks still searches by keyword.
    box.hidden = false;
    $("chart-caption").textContent = "No timeline: " + timeline.error;
    $("chart-by").replaceChildren();
    return;
  }
  const months = timeline.periods.map((p) => [p.label, p.count]);
  const byYear = state.by === "year" || (state.by !== "month" && months.length > MAX_MONTH_BARS);
  const periods = byYear ? perYear(months) : months;
  const undated = timeline.undated.length;
  box.hidden = !timeline.total || typeof Chart === "undefined";
  if (box.hidden) return;
  const period = byYear ? "year" : "month";
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "es"}`;
  $("chart-caption").textContent = `Matches per ${period}: ${plural(timeline.total, "match")}` +
    (undated ? `, ${undated} undated (not in the chart)` : "");
  $("chart").setAttribute("aria-label", $("chart-caption").textContent);
  const other = byYear ? "month" : "year";
  $("chart-by").replaceChildren(link(`per ${other}`, { ...state, by: other }));
  $("chart-by").firstChild.id = "chart-toggle";
  showKinds(timeline, state, byYear);
  chart = new Chart($("chart"), {
    type: "bar",
    data: {
      labels: periods.map(([label]) => label),
      datasets: [{ label: "matches", data: periods.map(([, count]) => count), backgroundColor: "#1f4e79" }],
    },
    options: {
      animation: false, maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      onClick: (_event, bars) => {
        if (!bars.length) return;
        const label = periods[bars[0].index][0];
        go(refine(state, { since: label, until: label, view: state.view }));
      },
    },
  });
}

// What the chart and the pairs count, in words, with the number of result hits they look at
// (top=, 100 unless the address says otherwise) to change.
function showViewRule(timeline, state) {
  $("view-rule").hidden = Boolean(timeline.error);
  if (timeline.error) return;
  // The rule and the undated count are said already; a weak match is said above the hits.
  const notes = timeline.notes.filter((note) => !note.startsWith("counted: ") && !note.endsWith("counted apart")
    && !note.startsWith("weak match"));
  $("view-rule-text").textContent = `Chart and pairs count ${timeline.total} article${timeline.total === 1 ? "" : "s"}: ` +
    `each is ${timeline.cutoff}.` + (notes.length ? " " + notes.join(" ") + "." : "") + " ";
  const top = state.top || "100";
  if (![...$("top").options].some((option) => option.value === top)) $("top").append(el("option", { value: top, text: top }));
  $("top").value = top;
}

// The timeline split by kind of cooperation; an index built before the defence facts were
// stored refuses the split, and then the plain timeline is drawn without the kinds.
function timelineByKind(viewParams) {
  const split = new URLSearchParams(viewParams);
  split.set("split", "kind");
  return getJson("/api/timeline?" + split).catch(() => getJson("/api/timeline?" + viewParams));
}

// Under the chart, the matches per kind of cooperation (an article may report several, so the
// rows may add up to more than the matches), each with a bar of its share of the matches and
// its counts per period in a tooltip; a kind's name adds it as a filter.
function showKinds(timeline, state, byYear) {
  const table = $("kind-table");
  const rows = timeline.kinds || [];
  table.hidden = !rows.length;
  if (!rows.length) { table.replaceChildren(); return; }
  const base = refine(state, { view: state.view });
  const kinds = Array.isArray(base.kind) ? base.kind : (base.kind ? [base.kind] : []);
  const labels = timeline.periods.map((p) => p.label);
  table.replaceChildren(el("caption", { class: "meta", text: "Matches per kind of cooperation" }), ...rows.map((row) => {
    const perPeriod = byYear ? perYear(labels.map((label, i) => [label, row.counts[i]])) : labels.map((label, i) => [label, row.counts[i]]);
    const title = perPeriod.filter(([, n]) => n).map(([label, n]) => `${label}: ${n}`).join(", ") +
      (row.undated ? `${perPeriod.some(([, n]) => n) ? ", " : ""}undated: ${row.undated}` : "");
    const name = row.kind === "none" || kinds.includes(row.kind)
      ? el("span", { text: row.kind }) : link(row.kind, { ...base, kind: [...kinds, row.kind] });
    // Set through the style object: the page's CSP refuses style attributes.
    const bar = el("span", { class: "share-bar" });
    bar.style.width = `${Math.round((100 * row.total) / Math.max(timeline.total, 1))}%`;
    return el("tr", { "data-kind": row.kind, title },
      el("th", { scope: "row" }, name),
      el("td", { class: "count", text: String(row.total) }),
      el("td", { class: "share" }, bar));
  }));
}

function perYear(months) {
  const years = new Map();
  for (const [label, count] of months) years.set(label.slice(0, 4), (years.get(label.slice(0, 4)) || 0) + count);
  return [...years.entries()];
}

// A result whose closest article is under the model's calibrated cosine says so above its hits:
// its first hit is merely the least unrelated, whatever its score.
function showStrength(strength) {
  const weak = Boolean(strength) && strength.label === "weak";
  $("match-note").hidden = !weak;
  $("match-note").textContent = weak ? strength.note.charAt(0).toUpperCase() + strength.note.slice(1) : "";
}

function showHits(result, state, heading, fresh = new Set()) {
  $("results-heading").hidden = !heading;
  $("results-heading").textContent = heading || "";
  $("results").replaceChildren(...result.hits.map((hit) => hitItem(hit, state, fresh)));
  showStrength(result.strength);
  const counted = showPager(result, state);
  const ms = Math.round((result.timings.total || 0) * 1000);
  const said = result.strength ? result.strength.note : null; // shown above the hits already
  const shown = result.notes.filter((note) => note !== said);
  const notes = shown.length ? " · " + shown.join(" ") : "";
  $("status").textContent = `${counted} · ${ms} ms · index ${result.generation}${notes}`;
}

function showView(name) {
  $("results-view").hidden = name !== "results";
  $("article-view").hidden = name !== "article";
  $("home-view").hidden = name !== "home";
}

// ---- country pairs -----------------------------------------------------------------------

function showTabs(state, pairCount) {
  const tab = (text, view) => Object.assign(link(text, { ...state, view }), {
    className: (state.view || "") === view ? "tab current" : "tab",
  });
  const pairsText = pairCount === null ? "Country pairs" : `Country pairs (${pairCount})`;
  $("view-tabs").replaceChildren(tab("Results", ""), tab(pairsText, "pairs"));
  $("view-tabs").lastChild.id = "pairs-tab";
  $("view-tabs").hidden = false;
}

function pairName(pair) {
  return pair.countries.join(" – ");
}

function pairSpan(pair) {
  if (!pair.first) return "undated";
  const span = pair.first === pair.last ? pair.first : `${pair.first} … ${pair.last}`;
  return pair.undated ? `${span}, ${pair.undated} undated` : span;
}

// The matrix of the countries in most pairs: a cell is the number of matches tagged with both
// countries; clicking it (or a country's name) filters the search by them.
function pairsMatrix(result, state) {
  const weight = new Map();
  for (const pair of result.pairs) for (const name of pair.countries) weight.set(name, (weight.get(name) || 0) + pair.count);
  const names = [...weight.keys()].sort((a, b) => weight.get(b) - weight.get(a) || a.localeCompare(b)).slice(0, MATRIX_COUNTRIES);
  const byKey = new Map(result.pairs.map((pair) => [pair.countries.join("|"), pair]));
  const countryButton = (name) => el("button", {
    type: "button", class: "country", "data-country": name, text: name,
    title: `filter by ${name}`, onclick: () => go(withCountries(state, [name])),
  });
  const head = el("tr", null, el("th"), ...names.map((name) => el("th", { scope: "col" }, countryButton(name))));
  const rows = names.map((row) => el("tr", null, el("th", { scope: "row" }, countryButton(row)), ...names.map((col) => {
    const pair = row === col ? null : byKey.get([row, col].sort().join("|"));
    if (!pair) return el("td", { class: row === col ? "self" : "none" });
    return el("td", null, el("button", {
      type: "button", class: "cell", "data-pair": pair.countries.join("|"), text: String(pair.count),
      title: `${pairName(pair)}: ${pair.count} · ${pairSpan(pair)}`, onclick: () => go(withCountries(state, pair.countries)),
    }));
  })));
  return [el("thead", null, head), el("tbody", null, ...rows)];
}

function pairItem(pair, state) {
  const noun = pair.count === 1 ? "article" : "articles";
  return el("li", { "data-pair": pair.countries.join("|") },
    el("button", { type: "button", class: "pair", text: pairName(pair), title: "filter by both countries",
      onclick: () => go(withCountries(state, pair.countries)) }),
    el("span", { class: "meta", text: ` ${pair.count} ${noun} · ${pairSpan(pair)} · e.g. ` }),
    link(pair.example.title, { ...searchState(state), article: pair.example.id }));
}

function showPairs(result, state) {
  if (result.error) {
    $("pairs-summary").textContent = "No country pairs: " + result.error;
    $("pairs-matrix").replaceChildren();
    $("pairs-matrix").parentElement.hidden = true;
    $("pairs-list").replaceChildren();
    return;
  }
  const focus = result.focus.length ? `, each with ${result.focus.join(" or ")}` : "";
  $("pairs-summary").textContent = result.pairs.length
    ? `${result.pairs.length} country pairs in ${result.matches} matching articles${focus} (a match: ${result.cutoff}). Click a pair or a country to filter the search.`
    : `No two countries appear together in the ${result.matches} matching articles (a match: ${result.cutoff}).`;
  $("pairs-matrix").replaceChildren(...(result.pairs.length ? pairsMatrix(result, state) : []));
  $("pairs-matrix").parentElement.hidden = !result.pairs.length;
  $("pairs-list").replaceChildren(...result.pairs.slice(0, 100).map((pair) => pairItem(pair, state)));
}

// ---- saved searches and their new matches ------------------------------------------------

function savedState(saved) {
  const f = saved.filters;
  return { q: saved.query, country: f.countries, source: f.sources, since: f.since || "", until: f.until || "",
    system: f.systems || [], org: f.organisations || [], person: f.people || [], kind: f.kinds || [],
    mode: "", sort: "", copies: "", article: "", similar: "", view: "", by: "", watch: saved.ref };
}

// Who saved it and whether the team sees it. Names are per owner (alice and bob may each have
// "libya"), so a search is named in addresses and API calls by its ref (OWNER/NAME); only its
// owner may remove it (anyone may on a server without named tokens: `user` is null there).
function savedOwner(saved, user) {
  const owner = !saved.owner ? "" : saved.owner === user ? "yours" : `by ${saved.owner}`;
  return el("span", { class: "saved-owner", "data-owner": saved.owner }, owner,
    saved.shared ? el("span", { class: "shared-tag", text: "shared" }) : null);
}

function removeButton(saved, user, state) {
  if (user && saved.owner !== user) return null;
  return el("button", { type: "button", class: "remove", "aria-label": `remove saved search ${saved.ref}`, text: "×",
    onclick: () => removeSaved(saved.ref, state) });
}

function showSaved(watchlist, state) {
  $("save-form").hidden = !state.q;
  $("save-name").placeholder = state.q.slice(0, 40) || "name";
  $("save-shared-label").hidden = !watchlist.user;
  const items = watchlist.searches.map((saved) => el("li", { "data-name": saved.ref, class: saved.ref === state.watch ? "current" : "" },
    link(saved.name, savedState(saved)), savedOwner(saved, watchlist.user), removeButton(saved, watchlist.user, state)));
  $("saved-list").replaceChildren(...items);
}

async function removeSaved(name, state) {
  try {
    await getJson("/api/watchlist/" + encodeURIComponent(name), { method: "DELETE" });
    go(state.watch === name ? { ...state, watch: "" } : state);
  } catch (err) {
    if (state.q) showSaveError(err.message);
    else showError(err.message);
  }
}

function showSaveError(message) {
  $("save-error").hidden = !message;
  $("save-error").textContent = message || "";
}

function showAlert(alert, state) {
  const box = $("alert-box");
  box.hidden = !alert;
  if (!alert) return new Set();
  const since = (alert.search.checked || alert.search.created).slice(0, 16).replace("T", " ");
  const count = alert.matches.length;
  const parts = [el("p", null, el("strong", { text: `Saved search “${alert.search.name}”: ` }),
    `${count} new match${count === 1 ? "" : "es"} since ${since} UTC`)];
  if (count) {
    parts.push(el("ul", null, ...alert.matches.slice(0, ALERTS_LISTED).map((match) => el("li", { "data-id": match.id },
      link(match.title, { ...searchState(state), article: match.id }), ` (${match.date || "undated"})`))));
    if (count > ALERTS_LISTED) parts.push(el("p", { class: "meta", text: `and ${count - ALERTS_LISTED} more` }));
    parts.push(el("button", { type: "button", id: "mark-seen", text: "Mark as seen", onclick: () => markSeen(alert.search.ref) }));
  }
  box.replaceChildren(...parts);
  return new Set(alert.matches.map((match) => match.id));
}

async function markSeen(name) {
  try {
    await getJson(`/api/alerts/${encodeURIComponent(name)}/seen`, { method: "POST" });
    render();
  } catch (err) {
    showError(err.message);
  }
}

async function saveSearch(event) {
  event.preventDefault();
  const state = readState();
  const name = $("save-name").value.trim() || state.q.slice(0, 100);
  const body = { name, query: state.q, country: state.country, source: state.source, since: state.since || null, until: state.until || null,
    system: state.system, org: state.org, person: state.person, kind: state.kind,
    shared: $("save-shared").checked };
  try {
    const saved = await getJson("/api/watchlist", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    showSaveError("");
    $("save-name").value = "";
    $("save-shared").checked = false;
    go({ ...state, watch: saved.ref });
  } catch (err) {
    showSaveError(err.message);
  }
}

async function renderSearch(state, ticket) {
  const params = apiParams(state, ["q", "mode", "sort", "since", "until"], true);
  // The export holds the whole result set (the API's default: its first 1000 hits), not the page.
  const exportUrl = "/api/search/export?" + params;
  const { k, offset } = paging(state);
  params.set("k", String(k));
  params.set("offset", String(offset));
  params.set("facets", "true");
  const viewParams = apiParams(state, ["q", "since", "until", "top"], true);
  viewParams.delete("collapse");
  const pairsWanted = state.view === "pairs";
  // A view that fails (its saved search removed meanwhile, a model this server lacks) says so
  // in its place; the results still show.
  const settle = (promise) => promise.catch((err) => ({ error: err.message }));
  const alert = state.watch
    ? settle(getJson("/api/alerts?" + new URLSearchParams({ name: state.watch })).then((a) => a.alerts[0]))
    : Promise.resolve(null);
  const [result, timeline, pairs, watchlist, watched] = await Promise.all([
    getJson("/api/search?" + params), settle(timelineByKind(viewParams)),
    pairsWanted ? settle(getJson("/api/pairs?" + viewParams)) : Promise.resolve(null),
    settle(getJson("/api/watchlist")), alert,
  ]);
  if (ticket !== renderCount) return;
  showView("results");
  showTabs(state, pairs && !pairs.error ? pairs.pairs.length : null);
  $("results").hidden = pairsWanted;
  $("result-tools").hidden = pairsWanted;
  $("export").href = exportUrl;
  $("export").hidden = false;
  $("pairs-view").hidden = !pairsWanted;
  if (pairs) showPairs(pairs, state);
  const fresh = watched && !watched.error ? showAlert(watched, state) : showAlert(null, state);
  showHits(result, state, "", fresh);
  showFacets(result.facets, state);
  showTimeline(timeline, state);
  showViewRule(timeline, state);
  showSaved(watchlist.error ? { searches: [] } : watchlist, state);
  if (watched && watched.error) showError(watched.error);
  if (watchlist.error) showSaveError(watchlist.error);
}

async function renderSimilar(state, ticket) {
  const params = apiParams(state, ["since", "until"], true);
  const { k, offset } = paging(state);
  params.set("k", String(k));
  params.set("offset", String(offset));
  const id = encodeURIComponent(state.similar);
  const [result, article] = await Promise.all([getJson(`/api/similar/${id}?` + params), getJson(`/api/articles/${id}`)]);
  if (ticket !== renderCount) return;
  showView("results");
  $("chart-box").hidden = true;
  $("view-rule").hidden = true;
  $("view-tabs").hidden = true;
  $("alert-box").hidden = true;
  $("pairs-view").hidden = true;
  $("results").hidden = false;
  $("result-tools").hidden = false;
  $("export").hidden = true;
  $("save-form").hidden = true;
  $("facets").replaceChildren();
  showHits(result, state, "More like: " + article.title);
}

// An article: its text, its countries, month and source as one-click searches, and the articles
// most like it. A click on a country or the month searches the current query (or, from a shared
// address without one, the article's title) with that filter.
async function renderArticle(state, ticket) {
  const id = encodeURIComponent(state.article);
  const [article, similar] = await Promise.all([
    getJson("/api/articles/" + id),
    getJson(`/api/similar/${id}?k=5`).catch((err) => ({ error: err.message })),
  ]);
  if (ticket !== renderCount) return;
  showView("article");
  $("article-title").textContent = article.title;
  $("article-meta").replaceWith(Object.assign(metaLine(article), { id: "article-meta" }));
  const paragraphs = article.body.split(/\n+/).filter((line) => line.trim());
  $("article-body").replaceChildren(...paragraphs.map((line) => el("p", { text: line })));
  const base = { ...searchState(state), q: state.q || article.title, view: "", watch: "", page: "" };
  const filterLink = (text, target, kind) => {
    const node = link(text, target);
    node.className = "filter-link";
    node.title = `search with ${kind} ${text}`;
    node.setAttribute("data-" + kind, text);
    return node;
  };
  const filters = article.countries.map((name) => filterLink(name, withCountries(base, [name]), "country"));
  if (article.date) {
    const month = article.date.slice(0, 7);
    filters.push(filterLink(month, { ...base, since: month, until: month }, "month"));
  }
  if (article.source) filters.push(filterLink(article.source, { ...base, source: [article.source] }, "source"));
  $("article-filters").replaceChildren(...filters);
  $("article-filters").hidden = !filters.length;
  // The file's name; its whole path (as the API shows it to this client) on hover.
  const file = article.path.split("/").pop();
  $("article-source").textContent = `source: ${article.source || "unknown"} · file: ${file}`;
  $("article-source").title = article.path;
  // More like this looks through the whole index: the search's filters are left behind.
  const more = { q: state.q, mode: state.mode, k: state.k, country: [], source: [], similar: article.id };
  $("more-like-this").replaceWith(Object.assign(link("More like this", more), { id: "more-like-this" }));
  const url = $("article-url");
  const safe = /^https?:\/\//i.test(article.url || "");
  url.hidden = !safe;
  if (safe) url.href = article.url;
  const alike = similar.error ? [] : similar.hits;
  $("similar-list").replaceChildren(...(similar.error
    ? [el("li", { class: "meta", text: "No similar articles: " + similar.error })]
    : alike.map((hit) => el("li", { "data-id": hit.id }, link(hit.title, { ...searchState(state), article: hit.id }),
      el("span", { class: "meta", text: ` ${hit.date || "undated"}` })))));
  $("article-similar").hidden = !similar.error && !alike.length;
  $("status").textContent = `article ${article.id}`;
}

// No query yet: the start page. The index's size, its newest articles and the saved searches
// with how many articles newly match each (looking does not mark them as seen).
async function renderHome(state, ticket) {
  const settle = (promise) => promise.catch((err) => ({ error: err.message }));
  const [stats, newest, watchlist, alerts] = await Promise.all([
    getJson("/api/stats"), settle(getJson("/api/newest?k=10")), settle(getJson("/api/watchlist")),
    settle(getJson("/api/alerts")),
  ]);
  if (ticket !== renderCount) return;
  showView("home");
  $("results").replaceChildren();
  $("facets").replaceChildren();
  const count = (n, word) => `${n.toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;
  $("index-size").textContent = `${count(stats.articles, "article")} in ${count(stats.passages, "passage")} · ` +
    `index ${stats.generation} · model ${stats.model}`;
  $("newest").replaceChildren(...(newest.error ? [el("li", { class: "meta", text: newest.error })]
    : newest.articles.map((article) => el("li", { "data-id": article.id },
      link(article.title, { ...state, article: article.id }),
      el("span", { class: "meta", text: ` ${article.date} · ${[article.source, article.countries.join(", ")].filter(Boolean).join(" · ")}` })))));
  const fresh = new Map((alerts.error ? [] : alerts.alerts).map((alert) => [alert.search.ref, alert.matches.length]));
  const searches = watchlist.error ? [] : watchlist.searches;
  $("home-saved").replaceChildren(...(searches.length ? searches.map((saved) => {
    const n = fresh.get(saved.ref) || 0;
    return el("li", { "data-name": saved.ref }, link(saved.name, savedState(saved)),
      el("span", { class: n ? "new-count" : "meta", text: ` ${n} new` }), savedOwner(saved, watchlist.user),
      removeButton(saved, watchlist.user, state));
  }) : [el("li", { class: "meta", text: "None yet: search, then Save search." })]));
  $("status").textContent = "Type a query and press Enter" + (searches.length ? ", or open a saved search" : "") +
    ". Press / to come back to the search box.";
}

async function render() {
  const ticket = ++renderCount;
  const state = readState();
  fillForm(state);
  showError("");
  showSaveError("");
  try {
    if (state.article) await renderArticle(state, ticket);
    else if (state.similar) await renderSimilar(state, ticket);
    else if (state.q) await renderSearch(state, ticket);
    else await renderHome(state, ticket);
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
  state.page = ""; // a new search starts at its first page
  for (const name of ["country", "source"]) { // the form's typed filters; facets add the rest
    const typed = $("add-" + name).value.trim();
    if (typed && !state[name].includes(typed)) state[name] = [...state[name], typed];
  }
  if (!sameFilters(state, readState())) state.watch = "";
  go(state);
});

$("save-form").addEventListener("submit", saveSearch);

$("top").addEventListener("change", () => {
  const state = readState();
  go({ ...state, top: $("top").value === "100" ? "" : $("top").value });
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
