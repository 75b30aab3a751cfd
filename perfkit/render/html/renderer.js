/* perfkit plot: draw every [data-plot] element from the figures in #perfkit-charts. */
(function () {
  "use strict";
  var NARROW_PX = 600; /* a phone: no mode bar, a smaller legend */
  var CONFIG = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d"],
    toImageButtonOptions: {format: "png", scale: 2}
  };

  function fitted(el, spec) {
    var narrow = el.clientWidth < NARROW_PX;
    var config = Object.assign({}, CONFIG, {displayModeBar: narrow ? false : "hover"});
    var layout = Object.assign({}, spec.layout);
    if (narrow) {
      layout.legend = Object.assign({}, layout.legend, {font: {size: 11}});
      layout.margin = Object.assign({}, layout.margin, {l: 52, r: 12});
    }
    return {layout: layout, config: config};
  }

  function fail(el, reason) {
    el.dataset.rendered = "failed";
    el.classList.add("failed");
    el.textContent = "This chart could not be drawn (" + reason + "); its figures are listed below.";
    console.error("perfkit: chart " + el.dataset.plot + " not drawn: " + reason);
  }

  function draw(el, spec) {
    if (!spec) {
      fail(el, "no figure for it in the page");
      return Promise.resolve();
    }
    var fit = fitted(el, spec);
    return Plotly.newPlot(el, spec.data, fit.layout, fit.config).then(function () {
      el.dataset.rendered = "true";
    }, function (err) {
      fail(el, err);
    });
  }

  function drawAll() {
    var specs = JSON.parse(document.getElementById("perfkit-charts").textContent);
    var plots = Array.prototype.slice.call(document.querySelectorAll("[data-plot]"));
    if (typeof Plotly === "undefined") {
      plots.forEach(function (el) { fail(el, "Plotly did not load"); });
      document.body.dataset.charts = "failed";
      return;
    }
    var chain = Promise.resolve();
    plots.forEach(function (el) {
      chain = chain.then(function () { return draw(el, specs[el.dataset.plot]); });
    });
    chain.then(function () { document.body.dataset.charts = "done"; });
  }

  function resizeAll() {
    document.querySelectorAll("[data-rendered=true]").forEach(function (el) {
      Plotly.Plots.resize(el);
    });
  }

  /* On paper every figure table is open and every chart fits the page width. */
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("figcaption details:not([open])").forEach(function (d) {
      d.dataset.printOpened = "true";
      d.open = true;
    });
    resizeAll();
  });
  window.addEventListener("afterprint", function () {
    document.querySelectorAll("details[data-print-opened]").forEach(function (d) {
      d.open = false;
      delete d.dataset.printOpened;
    });
    resizeAll();
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
