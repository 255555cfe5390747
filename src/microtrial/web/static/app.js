// Progressive enhancement only: every form works without this file.
(function () {
  "use strict";
  // Show crisis resources as soon as an answer trips one of the catalog's crisis rules (e.g.
  // PHQ-9 item 9 above zero; the page lists the rules in data-rules). The server shows them again
  // after saving, and alerts the clinician.
  var crisis = document.getElementById("crisis");
  if (!crisis) { return; }
  var compare = {
    ge: function (a, b) { return a >= b; },
    gt: function (a, b) { return a > b; },
    le: function (a, b) { return a <= b; },
    lt: function (a, b) { return a < b; },
    eq: function (a, b) { return a === b; }
  };
  var rules = JSON.parse(crisis.getAttribute("data-rules") || "[]");
  rules.forEach(function (rule) {
    var selector = 'input[name="' + rule.field + '"], select[name="' + rule.field + '"]';
    var inputs = document.querySelectorAll(selector);
    function update() {
      inputs.forEach(function (el) {
        var value = parseInt(el.value, 10);
        if ((el.type !== "radio" || el.checked) && !isNaN(value) && compare[rule.op](value, rule.value)) {
          crisis.hidden = false;
        }
      });
    }
    inputs.forEach(function (el) { el.addEventListener("change", update); });
  });
})();
