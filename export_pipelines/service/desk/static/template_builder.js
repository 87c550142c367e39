// The template builder's live preview: when a field changes (after a pause), the form is sent as JSON to
// POST /templates/preview with the page's CSRF secret, and the PDF that comes back is shown in the iframe
// from a blob: URL; errors come back by field and are shown next to it. Without this script, the form's
// "Preview as PDF" button does the same in a new tab. No framework.
(function () {
  "use strict";
  var form = document.getElementById("template-form");
  var frame = document.getElementById("preview");
  var status = document.getElementById("preview-status");
  if (!form || !frame || !window.fetch) return;
  var timer = null, sent = 0, shownUrl = null;

  function fields() {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "file" || el.type === "submit" || el.name === "csrf_token") return;
      if (el.type === "checkbox" && !el.checked) return;
      body[el.name] = el.value;
    });
    return body;
  }

  function errorId(name) {
    return "error-" + name.replace(/\./g, "-").replace(/\[/g, "-").replace(/\]/g, "");
  }

  function showErrors(errors) {
    Array.prototype.forEach.call(form.querySelectorAll(".field-error"), function (p) { p.remove(); });
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (el) {
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
    });
    Object.keys(errors || {}).forEach(function (name) {
      var el = form.elements[name];
      var p = document.createElement("p");
      p.className = "field-error";
      p.id = errorId(name);
      p.setAttribute("role", "alert");
      p.textContent = errors[name];
      if (el && el.parentNode) {
        el.setAttribute("aria-invalid", "true");
        el.setAttribute("aria-describedby", p.id);
        el.parentNode.appendChild(p);
      } else {
        status.textContent = errors[name];
      }
    });
  }

  function refresh() {
    var number = ++sent;
    status.textContent = "Updating the preview…";
    fetch("/templates/preview", {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": form.elements.csrf_token.value},
      body: JSON.stringify(fields())
    }).then(function (answer) {
      if (number !== sent) return null;  // a newer preview is on its way
      if (answer.ok) {
        return answer.blob().then(function (pdf) {
          if (number !== sent) return;
          if (shownUrl) URL.revokeObjectURL(shownUrl);
          shownUrl = URL.createObjectURL(pdf);
          frame.src = shownUrl;
          frame.hidden = false;
          frame.dataset.version = String(number);
          showErrors({});
          status.textContent = "Preview with sample orders, updated.";
        });
      }
      return answer.json().then(function (problem) {
        if (number !== sent) return;
        showErrors(problem.errors);
        status.textContent = problem.detail || "The preview could not be made.";
      });
    }).catch(function () {
      if (number === sent) status.textContent = "The preview could not be reached: it will try again at your next change.";
    });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 500);
  }

  form.addEventListener("input", later);
  form.addEventListener("change", later);
  refresh();
})();
