"""What a graph's own ASGI app (``spec.ingress.http.app``) uses to call its graph.

The ingress imports the app and serves it at the graph's route prefix (decision 0019). Inside
it::

    from braid import ingress

    flow = ingress.flow()                  # await flow(value); async for item in flow.stream(value)
    words = ingress.handle("words")        # await words.split.remote(text)
    stream = words.options(stream=True)    # async for item in stream.count.remote(n)

Both bind to the graph whose app is being imported or is serving the request, so they may be
called at module level or inside a request (a FastAPI dependency, say). Failures raise the
request's :class:`RequestError` (``kind``, ``node``, ``step``, ``http_status``).
"""

from braid.runtime import Handle, RequestError
from braid.runtime._client.ingress_apps import Flow, flow, handle

__all__ = ["Flow", "Handle", "RequestError", "flow", "handle"]
