// Progressive enhancement of layer grids (vtl_gallery/orders.py): sort the cards in place by how much
// each channel changed between the two images of a pair, show each card's value, keep only the first
// N, and record the choice in the URL (?change=objective-change&pair=celeba&dir=most&top=10).
// Without this file the page links to pre-rendered orders instead.
(function () {
  "use strict";
  const PARAMS = ["change", "pair", "dir", "top"];

  function setup() {
    const box = document.getElementById("change-sort");
    const key = document.getElementById("change-key");
    const pair = document.getElementById("change-pair");
    const direction = document.getElementById("change-direction");
    const top = document.getElementById("change-top");
    const status = document.getElementById("change-status");
    const list = document.getElementById("cards");
    if (!box || !key || !pair || !direction || !top || !list) return;
    box.hidden = false;
    const other = document.getElementById("sort-key"); // the per-image sort of site.js
    const note = document.getElementById("sorted-note"); // on a pre-rendered order
    let resetting = false; // while this script itself puts the per-image sort back to channel order

    function option(select) { return select.options[select.selectedIndex]; }

    function value(card) {
      const values = (card.dataset["c" + key.value] || "").split(",");
      const x = parseFloat(values[parseInt(pair.value, 10)]);
      return isFinite(x) ? x : null;
    }

    function magnitude(x, scale) {
      if (x === null) return null;
      if (scale === "ratio") return x > 0 ? Math.abs(Math.log2(x)) : null;
      return Math.abs(x);
    }

    function format(x, scale) {
      if (x === null) return "—";
      const text = Number(x.toPrecision(3)).toString();
      if (scale === "ratio") return "×" + text;
      return (x > 0 ? "+" : "") + text;
    }

    function badge(card, text) {
      const label = card.querySelector(".label");
      let span = label.querySelector(".change-value");
      if (text === null) {
        if (span) span.remove();
        return;
      }
      if (!span) {
        span = document.createElement("span");
        span.className = "change-value";
        label.append(" ", span);
      }
      span.textContent = text;
    }

    function record() {
      const url = new URL(window.location.href);
      PARAMS.forEach(function (name) { url.searchParams.delete(name); });
      if (key.value !== "") {
        url.searchParams.set("change", option(key).dataset.slug);
        url.searchParams.set("pair", option(pair).dataset.id);
        url.searchParams.set("dir", direction.value);
        if (top.value) url.searchParams.set("top", top.value);
      }
      window.history.replaceState(null, "", url.toString());
    }

    function apply() {
      const none = key.value === "";
      pair.disabled = direction.disabled = top.disabled = none;
      const cards = Array.from(list.children);
      if (none) {
        cards.sort(function (a, b) { return a.dataset.channel - b.dataset.channel; });
        cards.forEach(function (card) { card.hidden = false; badge(card, null); list.appendChild(card); });
        if (status) status.textContent = "";
        return;
      }
      const scale = option(key).dataset.scale;
      const rows = cards.map(function (card) {
        const x = value(card);
        const size = direction.value === "most" ? magnitude(x, scale) : x;
        return { card: card, x: x, size: size, channel: +card.dataset.channel };
      });
      const sign = direction.value === "asc" ? 1 : -1;
      rows.sort(function (a, b) {
        if (a.size !== b.size) {
          if (a.size === null) return 1; // cards without a value go last, whatever the order
          if (b.size === null) return -1;
          return sign * (a.size - b.size);
        }
        return a.channel - b.channel;
      });
      const limit = parseInt(top.value, 10);
      const keep = limit > 0 ? limit : rows.length;
      const valued = rows.filter(function (row) { return row.size !== null; }).length;
      rows.forEach(function (row, i) {
        row.card.hidden = i >= keep;
        badge(row.card, format(row.x, scale));
        list.appendChild(row.card);
      });
      if (status) {
        const shown = Math.min(keep, rows.length);
        status.textContent = "Showing " + shown + " of " + rows.length + " channels" +
          (valued < rows.length ? "; " + (rows.length - valued) + " without both images, last" : "") + ".";
      }
    }

    function changed() {
      if (note) note.hidden = true;
      if (key.value !== "" && other && other.value !== "") {
        other.value = ""; // one order at a time: the per-image sort goes back to channel order first
        resetting = true;
        other.dispatchEvent(new Event("change"));
        resetting = false;
      }
      apply();
      record();
    }

    // The URL's choice, if it names this page's options.
    const params = new URL(window.location.href).searchParams;
    function pick(select, name, attribute) {
      const wanted = params.get(name);
      const found = Array.from(select.options).find(function (o) {
        return (attribute ? o.dataset[attribute] : o.value) === wanted;
      });
      if (found) select.value = found.value;
      return Boolean(found);
    }
    if (params.get("change") && pick(key, "change", "slug")) {
      pick(pair, "pair", "id");
      pick(direction, "dir", "");
      if (/^[1-9][0-9]*$/.test(params.get("top") || "")) top.value = params.get("top");
      if (note) note.hidden = true;
      apply();
    } else {
      pair.disabled = direction.disabled = top.disabled = key.value === "";
    }

    [key, pair, direction].forEach(function (select) { select.addEventListener("change", changed); });
    top.addEventListener("input", changed);
    if (other) {
      other.addEventListener("change", function (event) {
        if (resetting || key.value === "") return;
        key.value = ""; // the per-image sort has reordered the cards: forget the change order
        pair.disabled = direction.disabled = top.disabled = true;
        Array.from(list.children).forEach(function (card) { card.hidden = false; badge(card, null); });
        if (status) status.textContent = "";
        if (note) note.hidden = true;
        record();
      });
    }
  }

  document.addEventListener("DOMContentLoaded", setup);
})();
