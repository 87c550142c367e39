/* New export: the live parts of the form, which works without this script too.
   The dataset's columns and the filter builder follow the chosen dataset (the same choices as GET
   /api/v1/datasets, in the form's data-choices); columns move up and down in place; filter rows are added
   and removed, each with the operators of its column's type and a value input that fits it; the chosen
   format's options are shown; the estimate is asked for (debounced) whenever the form changes, and its
   errors are shown next to the fields they name, as the server shows a refused submission's. */
(function () {
  "use strict";
  var form = document.getElementById("new-export");
  if (!form) { return; }
  var choices = JSON.parse(form.getAttribute("data-choices"));
  var inputs = JSON.parse(form.getAttribute("data-inputs"));
  var columnList = document.getElementById("column-list");
  var filterRows = document.getElementById("filter-rows");
  var estimateText = document.getElementById("estimate");
  var estimateProblems = document.getElementById("estimate-problems");
  var timer = null;
  var asked = 0;
  document.documentElement.classList.add("js");

  function dataset() {
    var name = form.elements.dataset.value;
    return choices.datasets.filter(function (d) { return d.name === name; })[0] || { columns: [] };
  }
  function columnOf(name) {
    return dataset().columns.filter(function (c) { return c.name === name; })[0] || null;
  }
  function option(value, label, selected) {
    var element = document.createElement("option");
    element.value = value;
    element.textContent = label;
    element.selected = !!selected;
    return element;
  }

  /* Columns */
  function showColumns() {
    var template = document.getElementById("column-template");
    columnList.textContent = "";
    dataset().columns.forEach(function (column) {
      var item = template.content.firstElementChild.cloneNode(true);
      var box = item.querySelector("input[type=checkbox]");
      item.setAttribute("data-name", column.name);
      item.querySelector("input[type=hidden]").value = column.name;
      box.value = column.name;
      box.id = "column-" + column.name;
      item.querySelector("label").htmlFor = box.id;
      item.querySelector(".label").textContent = column.label;
      item.querySelector(".type").textContent = column.type;
      item.querySelector(".up").setAttribute("aria-label", "Move " + column.label + " up");
      item.querySelector(".down").setAttribute("aria-label", "Move " + column.label + " down");
      columnList.appendChild(item);
    });
  }
  function move(button) {
    var item = button.closest("li");
    var up = button.classList.contains("up");
    var other = up ? item.previousElementSibling : item.nextElementSibling;
    if (!other) { return; }
    columnList.insertBefore(item, up ? other : other.nextElementSibling);
    button.focus();
    ask();
  }

  /* Filters */
  function renumber() {
    Array.prototype.forEach.call(filterRows.children, function (row, index) {
      row.setAttribute("data-field", "filters[" + index + "]");
      ["column", "op", "value"].forEach(function (part) {
        var name = "filters[" + index + "]." + part;
        var id = "filters-" + index + "-" + part;
        var control = row.querySelector(".filter-" + part);
        control.name = name;
        control.id = id;
        control.closest(".part").setAttribute("data-field", name);
        control.closest(".part").querySelector("label").htmlFor = id;
      });
      var remove = row.querySelector(".remove-filter");
      remove.value = "remove_filter:" + index;
      remove.querySelector(".visually-hidden").textContent = " filter " + (index + 1);
    });
  }
  function fitOperators(row) {
    var column = columnOf(row.querySelector(".filter-column").value);
    var select = row.querySelector(".filter-op");
    var current = select.value;
    var ops = column ? column.operators : Object.keys(inputs.labels);
    select.textContent = "";
    ops.forEach(function (op) { select.appendChild(option(op, inputs.labels[op], op === current)); });
    fitValue(row);
  }
  function fitValue(row) {
    var column = columnOf(row.querySelector(".filter-column").value);
    var op = row.querySelector(".filter-op").value;
    var old = row.querySelector(".filter-value");
    var part = old.closest(".part");
    var spec = inputs.text_ops[op] !== undefined ? { type: "text", placeholder: inputs.text_ops[op] }
      : inputs.types[column ? column.type : "string"];
    var fresh;
    if (spec.type === "select") {
      fresh = document.createElement("select");
      fresh.appendChild(option("", "—"));
      fresh.appendChild(option("true", "yes", old.value === "true"));
      fresh.appendChild(option("false", "no", old.value === "false"));
    } else {
      fresh = document.createElement("input");
      fresh.type = spec.type;
      if (spec.step) { fresh.step = spec.step; }
      if (spec.placeholder) { fresh.placeholder = spec.placeholder; }
      fresh.value = old.tagName === "INPUT" && old.type === spec.type ? old.value : "";
    }
    if (old.tagName === fresh.tagName && old.type === fresh.type && old.placeholder === fresh.placeholder) {
      fresh = old;
    } else {
      fresh.name = old.name;
      fresh.id = old.id;
      fresh.className = old.className;
      old.replaceWith(fresh);
    }
    var none = inputs.no_value.indexOf(op) >= 0;
    part.hidden = none;
    fresh.disabled = none;
  }
  function filterColumns(row) {
    var select = row.querySelector(".filter-column");
    var current = select.value;
    select.textContent = "";
    select.appendChild(option("", "—"));
    dataset().columns.forEach(function (c) { select.appendChild(option(c.name, c.label, c.name === current)); });
    fitOperators(row);
  }
  function blank(row) {
    row.querySelector(".filter-column").value = "";
    row.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
    fitOperators(row);
    row.querySelector(".filter-value").value = "";
  }
  function addFilter() {
    var row = filterRows.lastElementChild.cloneNode(true);
    filterRows.appendChild(row);
    blank(row);
    renumber();
    row.querySelector(".filter-column").focus();
  }
  function removeFilter(button) {
    var row = button.closest("li");
    if (filterRows.children.length === 1) {
      blank(row);
    } else {
      row.remove();
      renumber();
    }
    document.getElementById("add-filter").focus();
    ask();
  }

  /* Dataset, sort, format, schedule */
  function datasetChanged() {
    showColumns();
    while (filterRows.children.length > 1) { filterRows.lastElementChild.remove(); }
    var row = filterRows.firstElementChild;
    filterColumns(row);
    blank(row);
    renumber();
    var sort = form.elements.sort_column;
    sort.textContent = "";
    sort.appendChild(option("", "the dataset's key"));
    dataset().columns.forEach(function (c) { sort.appendChild(option(c.name, c.label)); });
    form.elements.shown_dataset.value = form.elements.dataset.value;
  }
  function showOptions() {
    var chosen = form.elements.format.value;
    form.querySelectorAll(".format-options").forEach(function (set) {
      set.hidden = set.getAttribute("data-format") !== chosen;
    });
  }
  function showSchedule() {
    var repeat = document.getElementById("repeat").checked;
    var custom = form.elements.schedule_preset.value === "custom";
    document.getElementById("schedule-fields").hidden = !repeat;
    document.getElementById("schedule-time-field").hidden = custom;
    document.getElementById("cron-field").hidden = !custom;
    document.getElementById("submit").textContent = repeat ? "Create the subscription" : "Submit the export";
  }

  /* The estimate, and its errors next to their fields */
  function fields() {
    var sent = {};
    new FormData(form).forEach(function (value, name) {
      if (name === "csrf_token" || name === "action" || typeof value !== "string") { return; }
      (sent[name] = sent[name] || []).push(value);
    });
    return sent;
  }
  function errorId(name) {
    return "error-" + name.replace(/\./g, "-").replace(/\[/g, "-").replace(/\]/g, "");
  }
  function placeOf(name) {
    var chosen = /^columns\[(\d+)\]$/.exec(name);
    if (chosen) {
      var box = form.querySelectorAll("input[name=columns]:checked")[Number(chosen[1])];
      return box ? box.closest("li") : null;
    }
    var places = form.querySelectorAll('[data-field="' + name.replace(/["\\]/g, "") + '"]');
    return Array.prototype.filter.call(places, function (place) { return !place.closest("[hidden]"); })[0] || null;
  }
  /* The errors shown become ``errors``: one the page already shows with the same text stays as it is (the
     server's, after a refused submission), the others go, the new ones are added next to their fields. */
  function showErrors(errors) {
    var wanted = {};
    Object.keys(errors).forEach(function (name) { wanted[errorId(name)] = name; });
    form.querySelectorAll(".field-error[id^=error-]").forEach(function (error) {
      var name = wanted[error.id];
      if (error.closest("#schedule")) { return; }  // the subscription's, which the estimate does not check
      if (name !== undefined && error.textContent === errors[name]) { delete wanted[error.id]; return; }
      var control = form.querySelector('[aria-describedby="' + error.id + '"]');
      if (control) { control.removeAttribute("aria-invalid"); control.removeAttribute("aria-describedby"); }
      error.remove();
    });
    estimateProblems.textContent = "";
    Object.keys(wanted).forEach(function (id) {
      var name = wanted[id];
      var place = placeOf(name);
      if (!place) {
        var item = document.createElement("li");
        item.textContent = name + ": " + errors[name];
        estimateProblems.appendChild(item);
        return;
      }
      var error = document.createElement("p");
      error.className = "field-error";
      error.id = id;
      error.textContent = errors[name];
      var control = place.querySelector("input:not([type=hidden]), select");
      if (control) {
        control.setAttribute("aria-invalid", "true");
        control.setAttribute("aria-describedby", id);
      }
      place.appendChild(error);
    });
  }
  function estimate() {
    var mine = ++asked;
    estimateText.textContent = "Estimating…";
    fetch("/exports/new/estimate", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": form.elements.csrf_token.value },
      body: JSON.stringify(fields())
    }).then(function (answer) {
      return answer.json().then(function (body) { return { ok: answer.ok, body: body }; });
    }).then(function (result) {
      if (mine !== asked) { return; }
      if (result.ok) {
        estimateText.textContent = result.body.text;
        showErrors({});
      } else {
        var errors = result.body.errors || {};
        estimateText.textContent = Object.keys(errors).length ? "No estimate yet: change the fields marked in red."
          : "No estimate: " + result.body.detail;
        showErrors(errors);
      }
    }).catch(function () {
      if (mine !== asked) { return; }
      estimateText.textContent = "No estimate: the service did not answer (has your session ended?): reload the page.";
    });
  }
  function ask() {
    window.clearTimeout(timer);
    timer = window.setTimeout(estimate, 400);
  }

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button[name=action]");
    if (!button) { return; }
    var action = button.value;
    if (action === "submit") { return; }
    event.preventDefault();
    if (button.classList.contains("up") || button.classList.contains("down")) { move(button); }
    else if (action === "add_filter") { addFilter(); }
    else if (action.indexOf("remove_filter:") === 0) { removeFilter(button); }
    else if (action === "estimate") { window.clearTimeout(timer); estimate(); }
  });
  form.addEventListener("change", function (event) {
    var target = event.target;
    if (target === form.elements.dataset) { datasetChanged(); }
    else if (target === form.elements.format) { showOptions(); }
    else if (target.id === "repeat" || target.name === "schedule_preset") { showSchedule(); return; }
    else if (target.classList.contains("filter-column")) { fitOperators(target.closest("li")); }
    else if (target.classList.contains("filter-op")) { fitValue(target.closest("li")); }
    if (!target.closest("#schedule")) { ask(); }
  });
  form.addEventListener("input", function (event) {
    if (!event.target.closest("#schedule") && event.target.tagName === "INPUT") { ask(); }
  });

  Array.prototype.forEach.call(filterRows.children, function (row) { fitValue(row); });
  showOptions();
  showSchedule();
  estimate();
}());
