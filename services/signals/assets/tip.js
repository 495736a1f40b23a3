// Enhancement only: the form works without it (POST, then a redirect to the thanks page). With it, the tip goes
// to POST /tips as JSON with the form's one-time key as its Idempotency-Key, so a double click or a retry after a
// lost answer records it once. Anything but a success falls back to the plain form post, whose page shows the
// errors in the reader's language.
(function () {
  var form = document.getElementById("tip-form");
  if (!form || !window.fetch) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var data = new FormData(form);
    if ((data.get("website") || "") !== "") { form.submit(); return; }
    var many = function (name) { return data.getAll(name).map(String); };
    var optional = function (name) { var v = String(data.get(name) || "").trim(); return v === "" ? null : v; };
    var body = {
      description: String(data.get("description") || ""), postcode: String(data.get("postcode") || "").trim(),
      municipality: optional("municipality"), seen_on: optional("seen_on"),
      exploitation_types: many("exploitation_types"), signal_ids: many("signal_ids"), callback: optional("callback")
    };
    fetch("/tips", {method: "POST", credentials: "omit", headers: {"Content-Type": "application/json",
      "Idempotency-Key": String(data.get("key"))}, body: JSON.stringify(body)})
      .then(function (response) {
        if (response.status === 201) { window.location.assign("/tip/thanks?lang=" + data.get("lang") + "&via=script"); }
        else { form.submit(); }
      })
      .catch(function () { form.submit(); });
  });
})();
