"""The content-understanding pipeline declared in Python: `braid build app.py:app` writes
graph.yaml's equivalent."""

from vision.classifiers import Car, Fruit, General
from vision.dispatch import Dispatcher
from vision.io import Downloader
from vision.models import Integrity, Segmentation
from vision.post import Aggregate
from vision.pre import Preprocessor

from braid.authoring import Input, bind, graph

downloader = bind(Downloader, timeout_seconds=5).options(replicas=2)
preprocessor = bind(Preprocessor, size=64).options(
    autoscaling={"minReplicas": 1, "maxReplicas": 8, "targetOngoingRequests": 2}
)
segmentation = bind(Segmentation, levels=4).options(
    resources={"cpu": "2", "memory": "8Gi", "gpu": 1},
    max_ongoing_requests=8,
    node_selector={"accelerator": "nvidia-l4"},
    tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
)
integrity = bind(Integrity).options(
    resources={"cpu": "1", "memory": "2Gi", "gpu": 0.5, "gpuSharing": "timeSlicing"}
)
dispatcher = bind(
    Dispatcher, fruit=bind(Fruit), car=bind(Car), general=bind(General).options(version="2")
)
aggregate = bind(Aggregate).options(user_config={"threshold": 0.8}, env={"REPORT_PRECISION": "3"})

image_url = Input("image_url")
downloaded = downloader.fetch.bind(image_url)
processed = preprocessor.process.bind(downloaded)
seg = segmentation.forward.bind(processed)  # fan-out: three steps on the same array
checks = integrity.forward.bind(processed)
category = dispatcher.route.bind(processed, hint="plant")
result = aggregate.bind(seg, checks, category, source=image_url)  # the join

app = graph(
    result,
    name="content-understanding",
    namespace="vision",
    image="ghcr.io/braid-dev/braid:0.1.0",
    route_prefix="/content",
    grpc=True,
    request_timeout_seconds=30,
)
