// Capsule check-in by the kit's QR code (progressive enhancement: typing the code always works).
// The label's QR code holds the 8-character kit code; a scan fills the same "Kit code" field
// and ticks "Taken", and the server checks it is the kit due. The browser's BarcodeDetector is
// used where it reads QR codes; otherwise jsQR (static/vendor/jsQR.js, loaded on first scan).
(function () {
  "use strict";
  var start = document.getElementById("scan-start");
  var box = document.getElementById("scanner");
  var video = document.getElementById("scan-video");
  var stop = document.getElementById("scan-stop");
  var field = document.getElementById("kit-code");
  var status = document.getElementById("scan-status");
  if (!start || !box || !video || !field || !status) { return; }
  var stream = null;
  var timer = null;
  var canvas = document.createElement("canvas");

  function say(text) { status.textContent = text; }
  // The page's words (#mt-words, in the page's language); English when absent.
  var words = {};
  try { words = JSON.parse((document.getElementById("mt-words") || {}).textContent || "{}"); } catch (ignored) { words = {}; }
  function word(key, english) { return words[key] || english; }

  // Upper case without spaces or dashes, as the server normalises a typed code.
  function kitCode(text) {
    var code = String(text || "").toUpperCase().replace(/[\s-]/g, "");
    return /^[A-Z0-9]{4,16}$/.test(code) ? code : null;
  }

  function loadJsQR() {
    if (window.jsQR) { return Promise.resolve(window.jsQR); }
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = "/static/vendor/jsQR.js";
      script.onload = function () { resolve(window.jsQR); };
      script.onerror = function () { reject(new Error("the QR reader did not load")); };
      document.head.appendChild(script);
    });
  }

  // A decoder: a function from the video (or an image) to the QR code's text, or null.
  function makeDecoder() {
    if ("BarcodeDetector" in window && window.BarcodeDetector.getSupportedFormats) {
      return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
        if (formats.indexOf("qr_code") < 0) { return jsQRDecoder(); }
        var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        return function (source) {
          return detector.detect(source).then(function (codes) {
            return codes.length ? codes[0].rawValue : null;
          });
        };
      });
    }
    return jsQRDecoder();
  }

  function jsQRDecoder() {
    return loadJsQR().then(function (jsQR) {
      return function (source) {
        var width = source.videoWidth || source.naturalWidth || source.width;
        var height = source.videoHeight || source.naturalHeight || source.height;
        if (!width || !height) { return Promise.resolve(null); }
        canvas.width = width;
        canvas.height = height;
        var context = canvas.getContext("2d", { willReadFrequently: true });
        context.drawImage(source, 0, 0, width, height);
        var found = jsQR(context.getImageData(0, 0, width, height).data, width, height);
        return Promise.resolve(found ? found.data : null);
      };
    });
  }

  function closeCamera() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    video.srcObject = null;
    box.hidden = true;
    start.hidden = false;
  }

  // Fill the form as if the patient had typed the code and ticked "Taken".
  function use(text) {
    var code = kitCode(text);
    if (!code) { say(word("scanNotKit", "That QR code is not a kit code. Type the code printed on the pack instead.")); return false; }
    field.value = code;
    var taken = document.querySelector('input[name="daily_diary.dose_check_in"][value="taken"]');
    if (taken) { taken.checked = true; }
    say(word("scanned", "Kit %(code)s scanned. Check the code, then save today's diary.").replace("%(code)s", code));
    field.focus();
    return true;
  }

  function scan(decode) {
    decode(video).then(function (text) {
      if (text && use(text)) { closeCamera(); return; }
      timer = setTimeout(function () { scan(decode); }, 200);
    }, function () { timer = setTimeout(function () { scan(decode); }, 200); });
  }

  function open() {
    say(word("scanStarting", "Starting the camera…"));
    var decoder = makeDecoder();
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (media) {
        stream = media;
        video.srcObject = media;
        box.hidden = false;
        start.hidden = true;
        return video.play();
      })
      .then(function () { return decoder; })
      .then(function (decode) {
        say(word("scanPoint", "Point the camera at the QR code on the capsule pack."));
        scan(decode);
      })
      .catch(function () {
        closeCamera();
        say(word("scanFailed", "The camera could not be used. Type the kit code printed on the pack instead."));
      });
  }

  // For an image of a label (used by the tests and by browsers without a camera).
  window.microtrialCheckin = {
    decodeImage: function (image) {
      return makeDecoder().then(function (decode) { return decode(image); }).then(function (text) {
        return text && use(text) ? kitCode(text) : null;
      });
    }
  };

  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    start.hidden = false;
    start.addEventListener("click", open);
    if (stop) { stop.addEventListener("click", closeCamera); }
  }
})();
