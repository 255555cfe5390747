// Progressive enhancement only: every form works without this file.
(function () {
  "use strict";

  // A refused form comes back with its invalid field marked (aria-invalid): move the focus
  // there, so that the message beside it (aria-describedby) is read at once.
  function focusFirstInvalid() {
    var invalid = document.querySelector('main [aria-invalid="true"]');
    if (!invalid) { return; }
    var details = invalid.closest("details");
    if (details) { details.open = true; }
    invalid.focus();
  }

  // Show crisis resources as soon as an answer trips one of the catalog's crisis rules (e.g.
  // PHQ-9 item 9 above zero; the page lists the rules in data-rules). The server shows them again
  // after saving, and alerts the clinician.
  function watchCrisisAnswers() {
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
  }

  // The plan form shows the weekday boxes to everyone (no script needed); here they are hidden
  // while the chosen regimen has a fixed pattern, and cleared so that none is sent by mistake.
  function weekdaysForRegimen() {
    var regimen = document.getElementById("template");
    var weekdays = document.getElementById("weekdays");
    if (!regimen || !weekdays) { return; }
    function update() {
      var option = regimen.options[regimen.selectedIndex];
      var needed = option && option.hasAttribute("data-weekdays");
      weekdays.hidden = !needed;
      if (!needed) {
        weekdays.querySelectorAll("input[type=checkbox]").forEach(function (box) { box.checked = false; });
      }
    }
    regimen.addEventListener("change", update);
    update();
  }

  watchCrisisAnswers();
  weekdaysForRegimen();
  focusFirstInvalid();
})();
