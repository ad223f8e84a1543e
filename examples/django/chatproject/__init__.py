"""The example project: settings, ASGI and WSGI entry points, URLs."""
