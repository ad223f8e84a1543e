"""The contract app as a module-level ASGI application, for server command lines that
import ``module:attribute`` (with ``EIO_CLUSTER_REDIS`` set, each worker joins that
cluster)::

    uvicorn benchmarks.asgi_app:app --workers 4
    hypercorn benchmarks.asgi_app:app --workers 4
    gunicorn -w 4 -k uvicorn.workers.UvicornWorker benchmarks.asgi_app:app
"""

from __future__ import annotations

from .contract_app import make_async_app

app = make_async_app()
