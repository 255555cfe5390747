// Progressive enhancement only: every form works without this file.
(function () {
  "use strict";
  // Show crisis resources as soon as PHQ-9 item 9 is answered above zero (the server shows them
  // again after saving, and alerts the clinician).
  var crisis = document.getElementById("crisis");
  if (!crisis) { return; }
  var inputs = document.querySelectorAll('input[name="phq9.q9"], select[name="phq9.q9"]');
  function update() {
    var positive = false;
    inputs.forEach(function (el) {
      if ((el.type !== "radio" || el.checked) && parseInt(el.value, 10) > 0) { positive = true; }
    });
    if (positive) { crisis.hidden = false; }
  }
  inputs.forEach(function (el) { el.addEventListener("change", update); });
})();
