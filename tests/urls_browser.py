"""Prism's URLs plus a door for the browser test: headless Chromium cannot be handed a cookie,
so it opens this URL, which sets the staff user's session cookie and redirects onward."""

from django.conf import settings
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path

from prism.urls import urlpatterns as prism_urlpatterns


def enter(request: HttpRequest) -> HttpResponseRedirect:
    response = HttpResponseRedirect(request.GET["next"])
    response.set_cookie(settings.SESSION_COOKIE_NAME, request.GET["session"], httponly=True)
    return response


urlpatterns = [*prism_urlpatterns, path("__browser_test_login__/", enter)]
