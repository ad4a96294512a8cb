// Progressive enhancement only: every page works without this file.
// Adds search (a static index loaded as a script, so it also works from file://),
// keyboard navigation, sorting of grids, copy buttons and the comparison slider.
(function () {
  "use strict";
  const html = document.documentElement;
  const root = html.dataset.root || "";
  const pretty = html.dataset.pretty === "true";
  const waiting = {};

  // Data files call vtlData(kind, value); a <script> tag loads them (fetch() is blocked on file://).
  window.vtlData = function (kind, value) {
    const key = kind === "layer" ? "layer:" + value.layer : kind;
    const resolve = waiting[key];
    delete waiting[key];
    if (resolve) resolve(value);
  };
  const cache = {};
  function load(key, path) {
    if (!cache[key]) {
      cache[key] = new Promise(function (resolve, reject) {
        waiting[key] = resolve;
        const script = document.createElement("script");
        script.src = root + path;
        script.onerror = function () { reject(new Error("cannot load " + path)); };
        document.head.appendChild(script);
      });
    }
    return cache[key];
  }
  function pageUrl(sitePath) { return root + sitePath + (pretty ? "" : "index.html"); }
  // A layer entry of the index: its channel's page is under the layer's (layer/<id>/<n>/, or the same
  // under network/<network>/ outside InceptionV1); its name says its network when the atlas has several.
  function channelPage(layer, channel) { return pageUrl(layer.url + channel + "/"); }
  function layerName(layer) { return layer.id + (layer.network ? " (" + layer.network + ")" : ""); }
  function loadIndex() { return load("search", "search/index.js"); }

  // --- search -------------------------------------------------------------------------------
  // "0–3, 7, 9–12": a sorted list of channel numbers, in ranges.
  function ranges(numbers) {
    const parts = [];
    let start = null;
    let last = null;
    function flush() { if (start !== null) parts.push(start === last ? String(start) : start + "–" + last); }
    for (const n of numbers) {
      if (start !== null && n === last + 1) { last = n; continue; }
      flush();
      start = last = n;
    }
    flush();
    return parts.join(", ");
  }

  // A channel's thumbnail (site path) or "": the layer's pattern ({channel}: the zero-padded index)
  // unless the channel is one of its exceptions (vtl_gallery/search.py).
  function thumbOf(layer, channel) {
    const t = layer.thumb;
    if (!t) return "";
    const key = String(channel);
    if (t.except && Object.prototype.hasOwnProperty.call(t.except, key)) return t.except[key];
    return t.pattern.replace("{channel}", key.padStart(t.pad || 0, "0"));
  }

  function search(index, query) {
    const q = query.trim().toLowerCase();
    if (!q) return [];
    let base = q;
    let channel = null;
    const m = q.match(/^(.*?)\s*[:#\s]\s*(\d+)$/);
    if (m && m[1]) { base = m[1]; channel = parseInt(m[2], 10); }
    const hits = [];
    function score(name, term) {
      const n = name.toLowerCase();
      if (n === term) return 100;
      if (n.endsWith("/" + term) || n.startsWith(term)) return 60;
      if (n.includes(term)) return 30;
      return 0;
    }
    for (const layer of index.layers) {
      let best = 0;
      let matched = layer.id;
      const name0 = layerName(layer);
      for (const name of layer.names) {
        const s = score(name, base);
        if (s > best) { best = s; matched = name; }
      }
      if (!best) continue;
      if (channel !== null && layer.channels.includes(channel)) {
        hits.push({ score: best + 50, label: layer.id + ":" + channel + (layer.network ? " (" + layer.network + ")" : ""), detail: "channel · " + matched,
          url: channelPage(layer, channel),
          thumb: thumbOf(layer, channel) });
      } else if (channel !== null) {
        // Say so, rather than silently returning the layer: and list what was rendered.
        hits.push({ score: best + 50, label: layer.id + ":" + channel + " was not rendered" + (layer.network ? " in " + layer.network : ""),
          detail: "rendered channels of " + name0 + ": " + (ranges(layer.channels) || "none"),
          url: pageUrl(layer.url), missing: layer });
      }
      hits.push({ score: best, label: name0, detail: "layer " + layer.paper + " · " + (matched === layer.id ? layer.names[1] || "" : matched),
        url: pageUrl(layer.url), thumb: layer.channels.length ? thumbOf(layer, layer.channels[0]) : "" });
    }
    for (const model of index.models) {
      const s = Math.max(score(model.name, q), score(model.dataset, q));
      if (s) hits.push({ score: s, label: model.name, detail: "model · " + model.dataset, url: pageUrl(model.url) });
    }
    for (const dataset of index.datasets) {
      const s = score(dataset.name, q);
      if (s) {
        for (const name of dataset.models) {
          hits.push({ score: s - 1, label: dataset.name, detail: "dataset · model " + name, url: pageUrl("model/" + name + "/") });
        }
      }
    }
    hits.sort(function (a, b) { return b.score - a.score || a.label.localeCompare(b.label); });
    return hits.slice(0, 25);
  }

  // Links to the rendered channels of a layer (the search page, under a "not rendered" hit).
  const MAX_CHANNEL_LINKS = 64;
  function channelLinks(index, layer) {
    const list = document.createElement("ul");
    list.className = "channel-links";
    for (const c of layer.channels.slice(0, MAX_CHANNEL_LINKS)) {
      const a = document.createElement("a");
      a.href = channelPage(layer, c);
      a.textContent = String(c);
      list.appendChild(wrap("li", a));
    }
    if (layer.channels.length > MAX_CHANNEL_LINKS) {
      list.appendChild(wrap("li", document.createTextNode("… (all on the layer page)")));
    }
    return list;
  }

  // One hit: a small thumbnail (an empty box where there is none), its label and a detail line.
  function hitLink(hit) {
    const a = document.createElement("a");
    a.href = hit.url;
    if (hit.missing) a.className = "not-rendered";
    let picture;
    if (hit.thumb) {
      picture = document.createElement("img");
      picture.src = root + hit.thumb;
      picture.alt = ""; // the label names the channel; the image repeats it
      picture.width = 40;
      picture.height = 40;
      picture.decoding = "async";
    } else {
      picture = document.createElement("span");
      picture.setAttribute("aria-hidden", "true");
    }
    picture.className = "hit-thumb";
    const text = document.createElement("span");
    text.className = "hit-text";
    const small = document.createElement("small");
    small.textContent = hit.detail;
    text.append(hit.label, " ", small); // the space keeps label and detail apart in the accessible name
    a.append(picture, text);
    return a;
  }

  function renderHits(container, hits, index) {
    container.textContent = "";
    for (const hit of hits) {
      const entry = wrap("li", hitLink(hit));
      if (hit.missing && index) entry.appendChild(channelLinks(index, hit.missing));
      container.appendChild(entry);
    }
  }
  function wrap(tag, child) { const el = document.createElement(tag); el.appendChild(child); return el; }
  function resultCount(hits, query) {
    if (!query.trim()) return "";
    return hits.length ? hits.length + (hits.length === 1 ? " result" : " results") : "No match.";
  }

  // The header's search box is a WAI-ARIA combobox with list autocomplete and automatic selection: focus
  // stays in the input; typing lists the hits (role=listbox, each hit a link with role=option) and
  // selects the first; Down and Up move the active option (aria-activedescendant), Enter opens the
  // selected one (or, with none, submits the form to the search page), Escape closes the list, or
  // clears the box when it is closed. Without JavaScript the form still submits to the search page.
  function setupHeaderSearch() {
    const input = document.getElementById("q");
    const box = document.getElementById("search-results");
    if (!input || !box) return;
    const form = input.form;
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", box.id);
    input.setAttribute("aria-expanded", "false");
    box.setAttribute("role", "listbox");
    box.setAttribute("aria-label", "Search results");
    const status = document.createElement("div");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    box.after(status);
    let options = [];
    let selected = -1; // the option Enter opens
    let inList = false; // the arrow keys have moved into the list (aria-activedescendant is set)

    function select(i, moveIn) {
      selected = i;
      inList = moveIn;
      options.forEach(function (option, j) {
        option.classList.toggle("active", j === i);
        option.setAttribute("aria-selected", j === i ? "true" : "false");
      });
      if (moveIn && i >= 0) {
        input.setAttribute("aria-activedescendant", options[i].id);
        options[i].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }
    function open(show) {
      const expanded = show && options.length > 0;
      box.hidden = !expanded;
      input.setAttribute("aria-expanded", expanded ? "true" : "false");
      if (!expanded) select(selected, false);
    }
    function update() {
      const query = input.value;
      loadIndex().then(function (index) {
        if (input.value !== query) return; // a later keystroke has its own update
        const hits = search(index, query);
        box.textContent = "";
        options = hits.map(function (hit, i) {
          const option = hitLink(hit);
          option.id = "search-option-" + i;
          option.setAttribute("role", "option");
          option.tabIndex = -1; // options are reached with the arrow keys, not Tab
          box.appendChild(option);
          return option;
        });
        select(options.length ? 0 : -1, false);
        open(true);
        status.textContent = resultCount(hits, query);
      });
    }

    input.addEventListener("focus", function () { loadIndex(); });
    input.addEventListener("input", update);
    input.addEventListener("keydown", function (event) {
      const n = options.length;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (!n) return;
        const down = event.key === "ArrowDown";
        if (box.hidden) {
          open(true);
          if (event.altKey) return;
        }
        const next = !inList ? (down ? 0 : n - 1) : (selected + (down ? 1 : -1) + n) % n;
        select(next, true);
      } else if (event.key === "Enter") {
        if (!box.hidden && selected >= 0) {
          event.preventDefault();
          window.location.href = options[selected].href;
        }
      } else if (event.key === "Escape") {
        event.preventDefault();
        if (!box.hidden) {
          open(false);
        } else if (input.value) {
          input.value = "";
          options = [];
          box.textContent = "";
          status.textContent = "";
          select(-1, false);
        }
      } else if (event.key === "Home" || event.key === "End" || event.key === "ArrowLeft" || event.key === "ArrowRight") {
        if (inList) select(selected, false); // editing keys act on the text again
      }
    });
    box.addEventListener("mousedown", function (event) { event.preventDefault(); }); // keep focus in the input
    input.addEventListener("blur", function () { open(false); });
    input.addEventListener("click", function () { if (box.hidden && options.length) open(true); });
    if (form) form.addEventListener("submit", function () { open(false); });
  }

  function setupSearchPage() {
    const list = document.getElementById("search-page-results");
    const input = document.getElementById("q-page");
    if (!list || !input) return;
    const q = new URLSearchParams(window.location.search).get("q") || "";
    const count = document.getElementById("search-page-count");
    input.value = q;
    function run() {
      loadIndex().then(function (index) {
        const hits = search(index, input.value);
        renderHits(list, hits, index);
        if (input.value && !hits.length) list.appendChild(wrap("li", document.createTextNode("No match.")));
        if (count) count.textContent = resultCount(hits, input.value);
      });
    }
    input.addEventListener("input", run);
    if (q) run();
  }

  // --- keyboard ------------------------------------------------------------------------------
  function setupKeys() {
    document.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      const tag = (event.target.tagName || "").toLowerCase();
      if (tag === "input" || tag === "select" || tag === "textarea") return;
      if (event.key === "/") {
        const input = document.getElementById("q");
        if (input) { event.preventDefault(); input.focus(); }
      } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        const link = document.querySelector(event.key === "ArrowLeft" ? "a[rel=prev]" : "a[rel=next]");
        if (link) window.location.href = link.href;
      }
    });
  }

  // --- grids and copy buttons -------------------------------------------------------------------
  // Layer grids: by channel, or by the objective (or a measurement) of one column's image.
  function setupSort() {
    const key = document.getElementById("sort-key");
    const column = document.getElementById("sort-column");
    const order = document.getElementById("sort-order");
    const list = document.getElementById("cards");
    if (!key || !column || !order || !list) return;
    key.closest(".js-only").hidden = false;
    function value(card) {
      const values = (card.dataset["k" + key.value] || "").split(",");
      const x = parseFloat(values[parseInt(column.value, 10)]);
      return isNaN(x) ? null : x;
    }
    function sort() {
      const byChannel = key.value === "";
      column.disabled = byChannel;
      order.disabled = byChannel;
      const sign = order.value === "asc" ? 1 : -1;
      const cards = Array.from(list.children);
      cards.sort(function (a, b) {
        if (!byChannel) {
          const x = value(a);
          const y = value(b);
          if (x !== y) {
            if (x === null) return 1; // cards without a value go last, whatever the order
            if (y === null) return -1;
            return sign * (x - y);
          }
        }
        return a.dataset.channel - b.dataset.channel;
      });
      cards.forEach(function (card) { list.appendChild(card); });
    }
    [key, column, order].forEach(function (select) { select.addEventListener("change", sort); });
  }

  function setupCopy() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        const text = document.getElementById(button.dataset.copy).textContent;
        const done = function () { button.textContent = "Copied"; };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () { selectText(button.dataset.copy); });
        } else {
          selectText(button.dataset.copy);
        }
      });
    });
  }
  function selectText(id) {
    const range = document.createRange();
    range.selectNodeContents(document.getElementById(id));
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // --- comparison view -----------------------------------------------------------------------
  // The view is in the address: ?layer=&channel=&a=&b=&view=&pos= (or the same after #), so a shared
  // link reopens it. A pair the atlas does not have is reported, never replaced by another one.
  const VIEWS = ["slider", "side", "all"];
  const STATE_KEYS = ["layer", "channel", "a", "b", "view", "pos"];
  function readCompareState() {
    const query = new URLSearchParams(window.location.search);
    const hash = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    const source = hash.has("layer") ? hash : query;
    const state = {};
    STATE_KEYS.forEach(function (key) { const v = source.get(key); state[key] = v === null || v === "" ? null : v; });
    return state;
  }
  function clampPos(value) {
    const x = parseFloat(value);
    return isNaN(x) ? 50 : Math.round(Math.min(100, Math.max(0, x)) * 10) / 10;
  }

  function setupCompare() {
    const app = document.getElementById("compare-app");
    if (!app) return;
    app.hidden = false;
    const el = function (id) { return document.getElementById(id); };
    const layerSel = el("cmp-layer"), channelSel = el("cmp-channel"), aSel = el("cmp-a"), bSel = el("cmp-b");
    const status = el("cmp-status"), pairsBox = el("cmp-pairs"), slider = el("cmp-slider"), side = el("cmp-side");
    const range = el("cmp-range"), hint = el("cmp-hint");
    const state = readCompareState();
    let index = null;
    let data = null;

    function option(select, value, label, missing) {
      const o = document.createElement("option");
      o.value = value;
      o.textContent = label;
      if (missing) o.dataset.missing = "true";
      select.appendChild(o);
    }
    function say(text) { status.textContent = text; status.hidden = !text; }
    function find(key) { return data.snapshots.find(function (x) { return x.key === key; }); }
    function labelOf(key) { const s = find(key); return s ? s.label : key; }
    function shortOf(key) { const s = find(key); return s ? s.short : key; }
    function pairsOf(channel) { return data.pairs[String(channel)] || []; }
    function hasChannel() { return data.channels.includes(Number(state.channel)); }
    function imageOf(key) { return (data.images[key] || {})[state.channel]; }
    function setImage(img, entry, label) {
      img.src = root + entry[0];
      img.width = entry[1];
      img.height = entry[2];
      img.alt = label;
    }

    function writeUrl() {
      const query = new URLSearchParams();
      STATE_KEYS.forEach(function (key) { if (state[key] !== null) query.set(key, state[key]); });
      try {
        history.replaceState(null, "", "?" + query.toString());
      } catch (e) {
        try { history.replaceState(null, "", "#" + query.toString()); } catch (e2) { /* the address stays */ }
      }
    }

    // The selects show the state; a requested layer, channel or snapshot the atlas lacks stays visible, marked.
    function entryOf(key) { return index.layers.find(function (l) { return (l.key || l.id) === key; }); }
    function fillLayers() {
      layerSel.textContent = "";
      const ids = index.layers.map(function (l) { return l.key || l.id; });
      index.layers.forEach(function (l) { option(layerSel, l.key || l.id, layerName(l)); });
      if (state.layer !== null && !ids.includes(state.layer)) option(layerSel, state.layer, state.layer + " (not in this atlas)", true);
      layerSel.value = state.layer === null ? "" : state.layer;
    }
    function fillSelects() {
      channelSel.textContent = "";
      data.channels.forEach(function (c) { option(channelSel, String(c), String(c)); });
      if (!hasChannel()) option(channelSel, state.channel, state.channel + " (not rendered)", true);
      channelSel.value = state.channel;
      [[aSel, state.a], [bSel, state.b]].forEach(function (pair) {
        const select = pair[0], key = pair[1];
        select.textContent = "";
        if (key === null) option(select, "", "—");
        data.snapshots.forEach(function (s) { option(select, s.key, s.label); });
        if (key !== null && !find(key)) option(select, key, key + " (not in this atlas)", true);
        select.value = key === null ? "" : key;
      });
    }
    function showPairs() {
      pairsBox.textContent = "";
      pairsBox.hidden = !hasChannel();
      if (!hasChannel()) return;
      const where = (data.id || data.layer) + ":" + state.channel;
      const pairs = pairsOf(state.channel);
      pairsBox.appendChild(document.createTextNode(pairs.length ? "Pairs of " + where + " in this atlas: " : "This atlas has no pair of images of " + where + " to compare."));
      pairs.forEach(function (pair) {
        const a = document.createElement("a");
        a.className = "button";
        a.href = "?" + new URLSearchParams({ layer: data.layer, channel: state.channel, a: pair[0], b: pair[1] }).toString();
        a.textContent = pair[2];
        if (pair[0] === state.a && pair[1] === state.b) a.setAttribute("aria-current", "true");
        a.addEventListener("click", function (event) {
          event.preventDefault();
          state.a = pair[0];
          state.b = pair[1];
          render(true);
        });
        pairsBox.appendChild(a);
        pairsBox.appendChild(document.createTextNode(" "));
      });
    }

    // Why the state cannot be shown, or "".
    function problem() {
      const where = (data.id || data.layer) + ":" + state.channel;
      if (!hasChannel()) return "Channel " + where + " was not rendered in this atlas; the rendered channels of " + (data.id || data.layer) + " are " + ranges(data.channels) + ".";
      if (state.view === "all") return "";
      if (state.a === null || state.b === null) return pairsOf(state.channel).length ? "Choose A and B." : "This atlas has no pair of images of " + where + " to compare.";
      const missing = [state.a, state.b].filter(function (key) { return !imageOf(key); });
      if (missing.length) {
        const names = missing.map(labelOf).filter(function (v, i, all) { return all.indexOf(v) === i; });
        return "This pair is not in this atlas: " + names.join(" and ") + (names.length > 1 ? " have" : " has") + " no image of " + where + ". Choose one of the pairs below.";
      }
      if (state.a === state.b) return "A and B are the same image (" + labelOf(state.a) + "): choose two different ones.";
      return "";
    }

    function drawSlider() {
      setImage(el("cmp-img-a"), imageOf(state.a), "A: " + labelOf(state.a));
      setImage(el("cmp-img-b"), imageOf(state.b), "B: " + labelOf(state.b));
      el("cmp-tag-a").textContent = "A: " + shortOf(state.a);
      el("cmp-tag-b").textContent = "B: " + shortOf(state.b);
      slider.hidden = false;
      hint.hidden = false;
      setPos(state.pos);
    }
    function drawSide() {
      side.textContent = "";
      side.hidden = false;
      const keys = state.view === "side" ? [state.a, state.b] : data.snapshots.map(function (s) { return s.key; });
      for (const key of keys) {
        const entry = imageOf(key);
        const figure = document.createElement("figure");
        figure.className = "shot";
        if (entry) {
          const img = document.createElement("img");
          setImage(img, entry, labelOf(key));
          figure.appendChild(img);
        } else {
          const span = document.createElement("span");
          span.className = "missing large";
          span.textContent = "not rendered";
          figure.appendChild(span);
        }
        const caption = document.createElement("figcaption");
        caption.textContent = labelOf(key);
        figure.appendChild(caption);
        side.appendChild(figure);
      }
    }

    function render(write) {
      if (state.channel === null && data.channels.length) state.channel = String(data.channels[0]);
      const pairs = hasChannel() ? pairsOf(state.channel) : [];
      if (state.a === null && state.b === null && pairs.length) { state.a = pairs[0][0]; state.b = pairs[0][1]; }
      if (!VIEWS.includes(state.view)) state.view = "slider";
      state.pos = clampPos(state.pos);
      fillSelects();
      app.querySelector("input[name=mode][value=" + state.view + "]").checked = true;
      showPairs();
      const link = el("cmp-channel-link");
      const entry = entryOf(data.layer);
      link.href = hasChannel() ? channelPage(entry, state.channel) : pageUrl(entry.url);
      link.textContent = hasChannel() ? "Open the page of " + (data.id || data.layer) + ":" + state.channel : "Open the page of " + (data.id || data.layer);
      slider.hidden = true;
      hint.hidden = true;
      side.hidden = true;
      setPos(state.pos);
      const why = problem();
      say(why);
      if (!why) {
        if (state.view === "slider") drawSlider(); else drawSide();
      }
      if (write) writeUrl();
    }
    function loadLayer(key) {
      const entry = entryOf(key);
      return load("layer:" + key, entry.data || "data/layer/" + key + ".js").then(function (value) { data = value; });
    }
    function hideViews() { slider.hidden = true; hint.hidden = true; side.hidden = true; pairsBox.hidden = true; }

    loadIndex().then(function (value) {
      index = value;
      if (state.layer === null) state.layer = index.layers.length ? (index.layers[0].key || index.layers[0].id) : null; // a bare address
      fillLayers();
      if (state.layer === null) { say("This atlas has no images to compare."); return null; }
      if (!entryOf(state.layer)) {
        say("Layer “" + state.layer + "” has no images in this atlas, so there is nothing to compare: choose a layer.");
        hideViews();
        return null;
      }
      return loadLayer(state.layer).then(function () { render(false); });
    }).catch(function (error) { say(String(error)); });

    layerSel.addEventListener("change", function () {
      const keep = { channel: state.channel, a: state.a, b: state.b };
      state.layer = layerSel.value;
      loadLayer(state.layer).then(function () {
        // Keep the channel and the pair where the new layer has them; else its first channel and pair.
        state.channel = data.channels.includes(Number(keep.channel)) ? keep.channel : null;
        const kept = state.channel !== null && [keep.a, keep.b].every(function (key) { return key && imageOf(key); });
        state.a = kept ? keep.a : null;
        state.b = kept ? keep.b : null;
        render(true);
      }).catch(function (error) { say(String(error)); });
    });
    channelSel.addEventListener("change", function () { state.channel = channelSel.value; render(true); });
    aSel.addEventListener("change", function () { state.a = aSel.value || null; render(true); });
    bSel.addEventListener("change", function () { state.b = bSel.value || null; render(true); });
    app.querySelectorAll("input[name=mode]").forEach(function (radio) {
      radio.addEventListener("change", function () { state.view = radio.value; render(true); });
    });
    setupSlider(slider, range, function (value) { setPos(value); }, writeUrl);

    function setPos(value) {
      state.pos = clampPos(value);
      range.value = state.pos;
      el("cmp-top").style.clipPath = "inset(0 0 0 " + state.pos + "%)";
      el("cmp-top").style.setProperty("--pos", state.pos + "%");
    }
  }

  // The slider follows clicks and drags (pointer events: mouse, pen and touch) and its range input (keys).
  function setupSlider(box, range, move, done) {
    let pointer = null;
    function at(event) {
      const rect = box.getBoundingClientRect();
      return ((event.clientX - rect.left) / rect.width) * 100;
    }
    box.addEventListener("pointerdown", function (event) {
      if (event.target === range || event.button !== 0) return;
      event.preventDefault();
      pointer = event.pointerId;
      try { box.setPointerCapture(pointer); } catch (e) { /* synthetic events have no capture */ }
      move(at(event));
    });
    box.addEventListener("pointermove", function (event) { if (event.pointerId === pointer) move(at(event)); });
    function release(event) {
      if (event.pointerId !== pointer) return;
      pointer = null;
      done();
    }
    box.addEventListener("pointerup", release);
    box.addEventListener("pointercancel", release);
    range.addEventListener("input", function () { move(range.value); });
    range.addEventListener("change", done);
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupHeaderSearch();
    setupSearchPage();
    setupKeys();
    setupSort();
    setupCopy();
    setupCompare();
    html.dataset.js = "ready"; // lets tests (and CSS) know the enhancements are in place
  });
})();
