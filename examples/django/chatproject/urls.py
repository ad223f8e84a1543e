"""The page, the client script and a broadcast endpoint."""

from __future__ import annotations

from chat import views
from django.urls import path

urlpatterns = [
    path("", views.index),
    path("engine.io.js", views.client_js),
    path("broadcast", views.broadcast),
]
