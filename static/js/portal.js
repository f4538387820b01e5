// Mentor Link's only first-party script: progressive enhancement, loaded from a file so a strict CSP holds.
// Buttons with data-confirm ask before submitting (destructive actions); without JavaScript they still work,
// because every destructive form also carries a server-side confirmation step.
document.addEventListener("click", function (event) {
  var target = event.target.closest("[data-confirm]");
  if (target && !window.confirm(target.getAttribute("data-confirm"))) {
    event.preventDefault();
  }
});
// "Select all" checkboxes for bulk actions: <input type="checkbox" data-select-all="name-of-row-checkboxes">
document.addEventListener("change", function (event) {
  var name = event.target.getAttribute && event.target.getAttribute("data-select-all");
  if (!name) { return; }
  document.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (box) {
    box.checked = event.target.checked;
  });
});
