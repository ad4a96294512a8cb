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
  function loadIndex() { return load("search", "search/index.js"); }

  // --- search -------------------------------------------------------------------------------
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
      for (const name of layer.names) {
        const s = score(name, base);
        if (s > best) { best = s; matched = name; }
      }
      if (!best) continue;
      if (channel !== null && layer.channels.includes(channel)) {
        hits.push({ score: best + 50, label: layer.id + ":" + channel, detail: "channel · " + matched,
          url: pageUrl(index.channelUrl.replace("{layer}", layer.id).replace("{channel}", channel)) });
      }
      hits.push({ score: best, label: layer.id, detail: "layer " + layer.paper + " · " + (matched === layer.id ? layer.names[1] || "" : matched),
        url: pageUrl(layer.url) });
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

  function renderHits(container, hits, item) {
    container.textContent = "";
    for (const hit of hits) {
      const a = document.createElement("a");
      a.href = hit.url;
      a.textContent = hit.label;
      const small = document.createElement("small");
      small.textContent = hit.detail;
      a.appendChild(small);
      container.appendChild(item ? wrap(item, a) : a);
    }
  }
  function wrap(tag, child) { const el = document.createElement(tag); el.appendChild(child); return el; }

  function setupHeaderSearch() {
    const input = document.getElementById("q");
    const box = document.getElementById("search-results");
    if (!input || !box) return;
    input.addEventListener("focus", function () { loadIndex(); });
    input.addEventListener("input", function () {
      loadIndex().then(function (index) {
        const hits = search(index, input.value);
        renderHits(box, hits);
        box.hidden = hits.length === 0;
        if (hits.length) box.firstChild.classList.add("active");
      });
    });
    input.addEventListener("keydown", function (event) {
      const links = Array.from(box.querySelectorAll("a"));
      const current = links.findIndex(function (a) { return a.classList.contains("active"); });
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (!links.length) return;
        const next = (current + (event.key === "ArrowDown" ? 1 : -1) + links.length) % links.length;
        links.forEach(function (a) { a.classList.remove("active"); });
        links[next].classList.add("active");
        links[next].scrollIntoView({ block: "nearest" });
      } else if (event.key === "Enter" && current >= 0) {
        event.preventDefault();
        window.location.href = links[current].href;
      } else if (event.key === "Escape") {
        box.hidden = true;
        input.blur();
      }
    });
    document.addEventListener("click", function (event) {
      if (!event.target.closest(".search")) box.hidden = true;
    });
  }

  function setupSearchPage() {
    const list = document.getElementById("search-page-results");
    const input = document.getElementById("q-page");
    if (!list || !input) return;
    const q = new URLSearchParams(window.location.search).get("q") || "";
    input.value = q;
    function run() {
      loadIndex().then(function (index) {
        const hits = search(index, input.value);
        renderHits(list, hits, "li");
        if (input.value && !hits.length) list.appendChild(wrap("li", document.createTextNode("No match.")));
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
  function setupSort() {
    const select = document.getElementById("sort-cards");
    const list = document.getElementById("cards");
    if (!select || !list) return;
    select.closest(".js-only").hidden = false;
    select.addEventListener("change", function () {
      const cards = Array.from(list.children);
      const key = select.value;
      cards.sort(function (a, b) {
        if (key === "channel") return a.dataset.channel - b.dataset.channel;
        const x = parseFloat(a.dataset.objective);
        const y = parseFloat(b.dataset.objective);
        const d = (isNaN(x) ? -Infinity : x) - (isNaN(y) ? -Infinity : y);
        return key === "objective-asc" ? d : -d;
      });
      cards.forEach(function (card) { list.appendChild(card); });
    });
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
  function setupCompare() {
    const app = document.getElementById("compare-app");
    if (!app) return;
    app.hidden = false;
    const params = new URLSearchParams(window.location.search);
    const el = function (id) { return document.getElementById(id); };
    const layerSel = el("cmp-layer"), channelSel = el("cmp-channel"), aSel = el("cmp-a"), bSel = el("cmp-b");
    const status = el("cmp-status");
    let data = null;

    function option(select, value, label) {
      const o = document.createElement("option");
      o.value = value;
      o.textContent = label;
      select.appendChild(o);
    }
    function mode() { return app.querySelector("input[name=mode]:checked").value; }
    function setImage(img, entry, label) {
      img.src = root + entry[0];
      img.width = entry[1];
      img.height = entry[2];
      img.alt = label;
    }
    function show() {
      if (!data) return;
      const channel = channelSel.value;
      const a = data.images[aSel.value] || {};
      const b = data.images[bSel.value] || {};
      const find = function (key) { return data.snapshots.find(function (x) { return x.key === key; }); };
      const labelOf = function (key) { const s = find(key); return s ? s.label : key; };
      const shortOf = function (key) { const s = find(key); return s ? s.short : key; };
      el("cmp-channel-link").href = pageUrl(index.channelUrl.replace("{layer}", data.layer).replace("{channel}", channel));
      el("cmp-channel-link").textContent = "Open the page of " + data.layer + ":" + channel;
      const slider = el("cmp-slider"), side = el("cmp-side");
      const m = mode();
      slider.hidden = m !== "slider";
      side.hidden = m === "slider";
      status.textContent = "";
      if (m === "slider") {
        if (!a[channel] || !b[channel]) {
          status.textContent = "Not rendered: " + (!a[channel] ? labelOf(aSel.value) : labelOf(bSel.value)) + " has no image of this channel.";
          slider.hidden = true;
          return;
        }
        setImage(el("cmp-img-a"), a[channel], "A: " + labelOf(aSel.value));
        setImage(el("cmp-img-b"), b[channel], "B: " + labelOf(bSel.value));
        el("cmp-tag-a").textContent = "A: " + shortOf(aSel.value);
        el("cmp-tag-b").textContent = "B: " + shortOf(bSel.value);
        moveSlider();
      } else {
        side.textContent = "";
        const keys = m === "side" ? [aSel.value, bSel.value] : data.snapshots.map(function (s) { return s.key; });
        for (const key of keys) {
          const entry = (data.images[key] || {})[channel];
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
      const query = new URLSearchParams({ layer: data.layer, channel: channel, a: aSel.value, b: bSel.value });
      try { history.replaceState(null, "", "?" + query.toString()); } catch (e) { /* some file:// setups refuse */ }
    }
    function moveSlider() {
      const value = el("cmp-range").value;
      el("cmp-top").style.clipPath = "inset(0 0 0 " + value + "%)";
      el("cmp-top").style.setProperty("--pos", value + "%");
    }
    function pickLayer(layerId, wanted) {
      return load("layer:" + layerId, "data/layer/" + layerId + ".js").then(function (value) {
        data = value;
        channelSel.textContent = "";
        data.channels.forEach(function (c) { option(channelSel, String(c), String(c)); });
        if (wanted.channel && data.channels.includes(parseInt(wanted.channel, 10))) channelSel.value = wanted.channel;
        for (const select of [aSel, bSel]) {
          select.textContent = "";
          data.snapshots.forEach(function (s) { option(select, s.key, s.label); });
        }
        const keys = data.snapshots.map(function (s) { return s.key; });
        aSel.value = keys.includes(wanted.a) ? wanted.a : keys[0] || "";
        bSel.value = keys.includes(wanted.b) ? wanted.b : keys[keys.length > 1 ? 1 : 0] || "";
        show();
      }).catch(function (error) { status.textContent = String(error); });
    }
    let index = null;
    loadIndex().then(function (value) {
      index = value;
      index.layers.forEach(function (layer) { option(layerSel, layer.id, layer.id); });
      const wanted = { channel: params.get("channel"), a: params.get("a"), b: params.get("b") };
      const first = index.layers.length ? index.layers[0].id : "";
      const requested = params.get("layer");
      layerSel.value = index.layers.some(function (l) { return l.id === requested; }) ? requested : first;
      if (layerSel.value) pickLayer(layerSel.value, wanted);
    });
    layerSel.addEventListener("change", function () {
      pickLayer(layerSel.value, { channel: channelSel.value, a: aSel.value, b: bSel.value });
    });
    [channelSel, aSel, bSel].forEach(function (s) { s.addEventListener("change", show); });
    app.querySelectorAll("input[name=mode]").forEach(function (r) { r.addEventListener("change", show); });
    el("cmp-range").addEventListener("input", moveSlider);
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
