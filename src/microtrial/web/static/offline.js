// The offline page in the patient's language: the one the patient pages last spoke (outbox.js
// keeps it as "mt-lang"), else the browser's. English is in offline.html itself. The words match
// the message catalogs (src/microtrial/locale); this page is served from the worker's cache, so
// it carries every language.
(function () {
  "use strict";
  var WORDS = {
    "es": {
      "title": "Sin conexión · MicroTrial",
      "heading": "No tiene conexión",
      "body": "Esta página necesita conexión. Su diario, los cuestionarios y el registro de ataques de dolor de cabeza siguen funcionando: lo que guarde se queda en este teléfono y se envía cuando vuelva a tener conexión.",
      "today": "El diario de hoy",
      "mood": "Cuestionario de ánimo",
      "anxiety": "Cuestionario de ansiedad",
      "attacks": "Registrar un ataque de dolor de cabeza"
    },
    "de": {
      "title": "Offline · MicroTrial",
      "heading": "Sie sind offline",
      "body": "Diese Seite braucht eine Verbindung. Ihr Tagebuch, die Fragebögen und das Protokoll der Kopfschmerzattacken funktionieren weiter: Was Sie speichern, bleibt auf diesem Telefon und wird gesendet, wenn Sie wieder online sind.",
      "today": "Das heutige Tagebuch",
      "mood": "Fragebogen zur Stimmung",
      "anxiety": "Fragebogen zur Angst",
      "attacks": "Kopfschmerzattacke eintragen"
    },
    "nl": {
      "title": "Offline · MicroTrial",
      "heading": "U bent offline",
      "body": "Deze pagina heeft een verbinding nodig. Uw dagboek, de vragenlijsten en het logboek van hoofdpijnaanvallen werken nog: wat u opslaat, blijft op deze telefoon en wordt verzonden als u weer online bent.",
      "today": "Het dagboek van vandaag",
      "mood": "Vragenlijst over stemming",
      "anxiety": "Vragenlijst over angst",
      "attacks": "Een hoofdpijnaanval registreren"
    },
    "pt": {
      "title": "Sem ligação · MicroTrial",
      "heading": "Está sem ligação",
      "body": "Esta página precisa de ligação. O seu diário, os questionários e o registo de crises de dor de cabeça continuam a funcionar: o que guardar fica neste telemóvel e é enviado quando voltar a ter ligação.",
      "today": "O diário de hoje",
      "mood": "Questionário de humor",
      "anxiety": "Questionário de ansiedade",
      "attacks": "Registar uma crise de dor de cabeça"
    }
  };
  var lang = "";
  try { lang = window.localStorage.getItem("mt-lang") || ""; } catch (ignored) { lang = ""; }
  lang = (lang || navigator.language || "en").slice(0, 2).toLowerCase();
  var words = WORDS[lang];
  if (!words) { return; }
  document.documentElement.lang = lang;
  document.title = words.title;
  Array.prototype.forEach.call(document.querySelectorAll("[data-word]"), function (element) {
    var text = words[element.getAttribute("data-word")];
    if (text) { element.textContent = text; }
  });
})();
