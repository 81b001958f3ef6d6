"""The live graph page: the flow's picture with figures per node, at ``/-/graph`` on the ingress.

Routes (``GET`` only; the page is read-only):

- ``/-/graph``: the page of the only graph, or a list of the graphs when the ingress serves
  several;
- ``/-/graph/<graph>``: the page: one static HTML file with its script and style inline (no
  CDN, no build step), which loads the picture once and polls the figures;
- ``/-/graph/<graph>/picture.svg``: the picture that ``braid graph -f svg`` draws, with two
  figure lines per node vertex;
- ``/-/graph/<graph>/figures.json``: the figures (:mod:`braid.runtime._ingress.figures`).

A graph with ``spec.ingress.http.graphPage: false`` has no page (404 that says so), and
``braid ingress --no-graph-page`` (the chart's ``graphPage.enabled: false``) turns off every page.
"""

from __future__ import annotations

import json
from importlib import resources
from urllib.parse import unquote

from braid.runtime._ingress.figures import FigureCollector
from braid.runtime._ingress.http_asgi import HttpRequest, Responder
from braid.runtime._ingress.routes import RouteTable
from braid.spec import GraphView

PREFIX = "/-/graph"
#: How often the page polls the figures, in milliseconds.
REFRESH_MS = 2000
_HTML = "text/html; charset=utf-8"


def _template() -> str:
    return resources.files(__package__).joinpath("graph_page.html").read_text(encoding="utf-8")


class GraphPages:
    """Serves the pages of every graph of one ingress (see the module docstring)."""

    def __init__(self, routes: RouteTable, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._collectors = {
            route.name: FigureCollector(route.graph, route.discovery) for route in routes.routes
        }
        self._routes = {route.name: route for route in routes.routes}
        self._svg: dict[str, bytes] = {}
        self._template = _template()

    def on(self, name: str) -> bool:
        route = self._routes.get(name)
        return self.enabled and route is not None and route.graph.spec.ingress.http.graph_page

    async def __call__(self, request: HttpRequest, responder: Responder) -> None:
        if not self.enabled:
            await responder.send_error(
                404, "NotFound", "the graph pages are turned off (braid ingress --no-graph-page)"
            )
            return
        rest = request.path[len(PREFIX) :].strip("/")
        if not rest:
            await self._index(responder)
            return
        name, _, part = (unquote(piece) for piece in rest.partition("/"))
        if name not in self._routes:
            known = ", ".join(sorted(self._routes))
            await responder.send_error(404, "NotFound", f'no graph "{name[:100]}"; graphs: {known}')
            return
        if not self.on(name):
            await responder.send_error(
                404,
                "NotFound",
                f'the page of graph "{name}" is turned off (spec.ingress.http.graphPage: false)',
            )
            return
        if part == "":
            await responder.send(200, self._page(name), content_type=_HTML)
        elif part == "picture.svg":
            await responder.send(200, self._picture(name), content_type="image/svg+xml")
        elif part == "figures.json":
            figures = await self._collectors[name].figures()
            await responder.send(
                200, json.dumps(figures).encode(), headers={"Cache-Control": "no-store"}
            )
        else:
            await responder.send_error(
                404, "NotFound", f"no {part[:100]} on the graph page; try {PREFIX}/{name}"
            )

    async def _index(self, responder: Responder) -> None:
        names = [name for name in sorted(self._routes) if self.on(name)]
        if len(names) == 1:
            await responder.send(200, self._page(names[0]), content_type=_HTML)
            return
        items = "".join(f'<li><a href="{PREFIX}/{_escape(n)}">{_escape(n)}</a></li>' for n in names)
        body = f"<!doctype html><title>braid graphs</title><h1>Graphs</h1><ul>{items}</ul>"
        await responder.send(200, body.encode(), content_type=_HTML)

    def _page(self, name: str) -> bytes:
        page = (
            self._template.replace("__GRAPH__", _escape(name))
            .replace("__BASE__", f"{PREFIX}/{name}")
            .replace("__REFRESH_MS__", str(REFRESH_MS))
        )
        return page.encode()

    def _picture(self, name: str) -> bytes:
        if name not in self._svg:
            # Imported on the first picture: drawing loads grandalf and numpy (idle memory).
            from braid.drawing import picture_of, to_svg  # noqa: PLC0415

            picture = picture_of(GraphView.of(self._routes[name].graph))
            self._svg[name] = to_svg(picture, figures=True).encode()
        return self._svg[name]


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
