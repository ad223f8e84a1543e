"""The page, the client script, a broadcast endpoint and the list of sessions."""

from __future__ import annotations

from chat import views
from django.urls import path

urlpatterns = [
    path("", views.index),
    path("engine.io.js", views.client_js),
    path("broadcast", views.broadcast_view),
    path("sessions", views.sessions),
]
