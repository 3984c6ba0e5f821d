// Wharf console: the little behaviour htmx does not give. Loaded as a file
// (the Content-Security-Policy allows no inline script); everything here is
// an enhancement: each form still works with plain submission.
(function () {
  "use strict";
  // Drag and drop onto an upload zone: the dropped component becomes the
  // file input's value (and a dropped `.sig` the signature input's) and the
  // form is submitted, as if picked and sent.
  function only(files, wanted) {
    var list = new DataTransfer();
    Array.prototype.forEach.call(files, function (f) {
      if (wanted(f)) list.items.add(f);
    });
    return list.files;
  }
  function wireDrops(root) {
    root.querySelectorAll("[data-drop]").forEach(function (zone) {
      if (zone.dataset.wired) return;
      zone.dataset.wired = "1";
      var input = zone.querySelector("input[type=file][name=file]") || zone.querySelector("input[type=file]");
      var signature = zone.querySelector("input[type=file][name=signature]");
      var isSig = function (f) { return /\.sig$/i.test(f.name); };
      ["dragenter", "dragover"].forEach(function (name) {
        zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
      });
      zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
      zone.addEventListener("drop", function (e) {
        e.preventDefault();
        zone.classList.remove("over");
        if (!input || !e.dataTransfer.files.length) return;
        var files = e.dataTransfer.files;
        if (signature) {
          var sigs = only(files, isSig);
          if (sigs.length) signature.files = sigs;
          files = only(files, function (f) { return !isSig(f); });
        }
        if (!files.length) return;
        var first = files[0];
        input.files = only(files, function (f) { return f === first; });
        zone.closest("form").requestSubmit();
      });
    });
  }
  // The log follows new lines while the reader is at its bottom.
  function followLogs(root) {
    root.querySelectorAll(".log[data-follow]").forEach(function (log) {
      log.scrollTop = log.scrollHeight;
    });
  }
  document.addEventListener("DOMContentLoaded", function () { wireDrops(document); followLogs(document); });
  document.addEventListener("htmx:load", function (e) { wireDrops(e.target); });
  document.addEventListener("htmx:sseMessage", function () { followLogs(document); });
})();
