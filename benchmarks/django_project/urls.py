"""No Django views: everything but Engine.IO is a 404."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
