"""Pictures of a graph's flow: Mermaid, DOT and SVG (``braid graph``, and the live page).

This package depends on :mod:`braid.spec` and grandalf only, so that the CLI, the ingress's
live page and documentation tools draw a graph the same way. :func:`picture_of` decides what is
drawn; :func:`to_mermaid`, :func:`to_dot` and :func:`to_svg` spell it.
"""

from braid.drawing._dot import to_dot
from braid.drawing._mermaid import to_mermaid
from braid.drawing._pictures import Arrow, Cluster, Kind, Picture, Style, Vertex, picture_of
from braid.drawing._svg import to_svg

__all__ = [
    "Arrow",
    "Cluster",
    "Kind",
    "Picture",
    "Style",
    "Vertex",
    "picture_of",
    "to_dot",
    "to_mermaid",
    "to_svg",
]
