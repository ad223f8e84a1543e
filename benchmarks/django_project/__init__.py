"""The benchmark / conformance contract app (``../shared/bench/CONTRACT.md``) as a Django project.

``settings`` reads the contract's environment (``EIO_PING_INTERVAL``...) into the
``ENGINEIO`` setting; ``asgi`` serves it through django-engineio's Channels
consumers, ``wsgi`` through its WSGI middleware. Start it with
``python -m benchmarks.django_serve`` (see that module).
"""
