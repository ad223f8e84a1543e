"""One Django view, to tell Django's answers from Engine.IO's."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path


def hello(request: HttpRequest) -> HttpResponse:
    """A plain Django view."""
    return HttpResponse(b"hello from django")


urlpatterns: list[URLPattern] = [path("hello/", hello)]
