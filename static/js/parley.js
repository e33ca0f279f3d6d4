// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // Close an open menu on Escape or on a click outside it, as people expect of a dropdown.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      menu.removeAttribute("open");
      menu.querySelector("summary").focus();
    });
  });
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  // Ask before destructive actions marked data-confirm (without JavaScript the form simply submits).
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
  });
  // "+" next to a connected organization picks it as the recipient.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-pick-counterpart]");
    if (!button) return;
    var select = document.getElementById("id_counterpart");
    if (!select) return;
    select.value = button.getAttribute("data-pick-counterpart");
    var subject = document.getElementById("id_subject");
    if (subject) subject.focus();
  });
  // A hint before uploading (the server checks again): at most 10 files of at most 10 MB each.
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches(".message-form input[type=file]")) return;
    var form = input.closest("form");
    var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);
    var maxFiles = parseInt(input.getAttribute("data-max-files"), 10);
    var problem = "";
    if (input.files.length > maxFiles) problem = form.getAttribute("data-too-many") || "Too many files.";
    Array.prototype.forEach.call(input.files, function (file) {
      if (file.size > maxBytes) problem = (form.getAttribute("data-too-big") || "Too big: ") + file.name;
    });
    input.setCustomValidity(problem);
    input.reportValidity();
  });
})();
