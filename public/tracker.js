/*! Pulse tracker: a pageview on load and on SPA navigation; window.pulse.track(name, props). */
(function (w, d, l, h) {
  var s = d.currentScript, site = s && s.getAttribute("data-website-id");
  if (!site) return;
  var api = s.getAttribute("data-api") || new URL(s.src).origin + "/api/track";
  var local = /^(localhost|127\.|\[::1\]$)/.test(l.hostname) || l.protocol == "file:";
  if (local && s.getAttribute("data-allow-localhost") == null) return;
  function send(type, props) {
    var body = JSON.stringify({ website_id: site, type: type, url: l.href, referrer: d.referrer || undefined,
      title: d.title || undefined, props: props, screen_width: w.screen && w.screen.width });
    // text/plain needs no CORS preflight, and sendBeacon survives page unloads
    if (!(navigator.sendBeacon && navigator.sendBeacon(api, new Blob([body], { type: "text/plain" }))))
      fetch(api, { method: "POST", body: body, headers: { "Content-Type": "text/plain" }, keepalive: true, credentials: "omit" })
        .catch(function () {});
  }
  var last;
  function pageview() { if (last != l.href) { last = l.href; send("pageview"); } }
  ["pushState", "replaceState"].forEach(function (m) {
    var o = h[m];
    h[m] = function () { var r = o.apply(this, arguments); pageview(); return r; };
  });
  w.addEventListener("popstate", pageview);
  w.pulse = { track: function (name, props) { send(String(name), props); } };
  pageview();
})(window, document, location, history);
