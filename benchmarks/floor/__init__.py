"""The floor: plain grpc.aio processes relaying bytes, with no braid code at all.

``relay`` is one server process (a relay to the next hop, a leaf that echoes, or an aggregator);
``http_front`` is a minimal asyncio HTTP/1.1 front that hands each body to the first hop. They
import only grpc and the standard library, so that the floor measures gRPC and Python, nothing
of ours.
"""
