// The set-password link carries its one-time code in the fragment
// (/console/set-password#CODE), which a browser never sends to a server,
// so it stays out of every request line and log. Move it into the form and
// out of the address bar; without this script, the code is pasted by hand.
(function () {
  var field = document.getElementById("token");
  if (!field) return;
  var code = window.location.hash.slice(1);
  if (code) {
    field.value = code;
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  if (field.value) {
    document.getElementById("token-field").hidden = true;
    var pw = document.getElementById("password");
    if (pw) pw.focus();
  }
})();
