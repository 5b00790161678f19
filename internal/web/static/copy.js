// Copy-to-clipboard for buttons with data-copy="ELEMENT-ID".
document.addEventListener("click", function (ev) {
  var btn = ev.target.closest("button[data-copy]");
  if (!btn) return;
  var el = document.getElementById(btn.getAttribute("data-copy"));
  if (!el || !navigator.clipboard) return;
  navigator.clipboard.writeText(el.textContent.trim()).then(function () {
    btn.textContent = "Copied";
  }, function () {
    btn.textContent = "Copy failed: select and copy by hand";
  });
});
