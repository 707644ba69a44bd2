// The graph view: the neighbourhood the server embedded in #graph-data, drawn with
// Cytoscape.js (served by this app, see scripts/fetch-ui-assets.py). Clicking (or tapping)
// a node opens its page. window.codegraphGraph is the Cytoscape instance (the tests count
// its drawn nodes).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("graph");
  var data = document.getElementById("graph-data");
  if (!box || !data || typeof cytoscape !== "function") return;
  var cy = cytoscape({
    container: box,
    elements: JSON.parse(data.textContent),
    wheelSensitivity: 0.3,
    style: [
      { selector: "node", style: {
        "label": "data(label)", "font-size": 11, "text-valign": "bottom", "text-margin-y": 3,
        "background-color": "#4a78b5", "width": 18, "height": 18, "color": "#222" } },
      { selector: "node[?center]", style: { "background-color": "#d9822b", "width": 26, "height": 26, "font-weight": "bold" } },
      { selector: "node[?external]", style: { "background-color": "#aaa", "shape": "round-rectangle" } },
      { selector: "edge", style: {
        "width": 1.5, "line-color": "#999", "target-arrow-color": "#999",
        "target-arrow-shape": "triangle", "curve-style": "bezier" } },
      { selector: "edge[kind = 'imports']", style: { "line-style": "dashed" } },
      { selector: "edge[confidence < 0.7]", style: { "line-style": "dotted" } }
    ],
    layout: { name: "breadthfirst", directed: true, padding: 20, spacingFactor: 1.1 }
  });
  cy.on("tap", "node", function (event) {
    var node = event.target;
    if (!node.data("external")) window.location.href = "/symbol/" + encodeURIComponent(node.id());
  });
  cy.nodes().forEach(function (node) {
    node.on("mouseover", function () { box.title = node.data("title"); });
  });
  window.codegraphGraph = cy;
  box.setAttribute("data-rendered", String(cy.nodes().length));
});
