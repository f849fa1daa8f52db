"""Prism's URLs plus a door for the browser test: headless Chromium cannot be handed a cookie,
so it opens this URL, which sets the staff user's session cookie and redirects onward.

`PageCheck` (a middleware the browser test installs) adds a script to each HTML page the
door marked: it applies the colour scheme asked for (Django admin's own `data-theme`) and
writes the layout facts the test asserts into the DOM, which `--dump-dom` then returns.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path

from prism.urls import urlpatterns as prism_urlpatterns

CHECK_COOKIE = "prism_page_check"
CHECK_SCRIPT = """<script>
(function () {
  var theme = %(theme)s;
  document.documentElement.dataset.theme = theme;
  localStorage.setItem("theme", theme);
  function measure() {
    var summary = document.getElementById("prism-summary");
    var box = summary ? summary.getBoundingClientRect() : null;
    var facts = {
      theme: theme,
      scrollWidth: document.scrollingElement.scrollWidth,
      innerWidth: window.innerWidth,
      innerHeight: window.innerHeight,
      summaryBottom: box ? box.bottom + window.scrollY : null,
      // Boxes that scroll sideways inside the page (the admin's result table does).
      clipped: Array.prototype.filter.call(document.querySelectorAll("#content *"), function (el) {
        var x = getComputedStyle(el).overflowX;
        return (x === "auto" || x === "scroll") && el.scrollWidth > el.clientWidth + 1;
      }).map(function (el) {
        return el.tagName + "." + el.className + " " + el.scrollWidth + ">" + el.clientWidth;
      }),
      links: Array.prototype.map.call(document.querySelectorAll("a[href]"), function (a) {
        return a.href;
      })
    };
    var out = document.createElement("script");
    out.type = "application/json";
    out.id = "prism-page-check";
    out.textContent = JSON.stringify(facts);
    document.body.appendChild(out);
  }
  window.addEventListener("load", measure);
})();
</script>"""


def enter(request: HttpRequest) -> HttpResponseRedirect:
    response = HttpResponseRedirect(request.GET["next"])
    response.set_cookie(settings.SESSION_COOKIE_NAME, request.GET["session"], httponly=True)
    response.set_cookie(CHECK_COOKIE, request.GET.get("theme", "light"))
    return response


class PageCheck:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        theme = request.COOKIES.get(CHECK_COOKIE)
        if theme in ("light", "dark") and "text/html" in response.get("Content-Type", ""):
            script = CHECK_SCRIPT % {"theme": f'"{theme}"'}
            response.content = response.content.replace(b"</body>", script.encode() + b"</body>", 1)
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
        return response


urlpatterns = [*prism_urlpatterns, path("__browser_test_login__/", enter)]
