# braid's one image: the operator, the runtime (sidecar, worker, ingress) and the examples.
#
#   docker build -t ghcr.io/braid-dev/braid:0.1.0 .
#
# The build stage installs braid into a virtualenv from wheels only (grpcio, protobuf and numpy
# ship manylinux wheels), so neither stage needs a compiler. The otel extra is the OTLP exporter
# that the chart's tracing.env uses (decision 0020). The final stage copies the
# virtualenv and the examples onto the same slim Python base (the venv's interpreter path must
# exist there), runs as a fixed non-root user and works with a read-only root filesystem.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/braid
COPY pyproject.toml README.md ./
COPY braid ./braid
RUN /opt/braid/bin/pip install --no-cache-dir --only-binary=:all: --no-binary=braid ".[operator,numpy,examples,otel]" \
    && /opt/braid/bin/pip uninstall --yes pip \
    && find /opt/braid -name '__pycache__' -type d -prune -exec rm -rf {} +
COPY examples /opt/braid/examples

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="braid" \
      org.opencontainers.image.description="Declarative deployment graphs for multi-model inference on Kubernetes" \
      org.opencontainers.image.source="https://github.com/braid-dev/braid" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/braid /opt/braid
# The examples' modules are importable by name, so that a graph from examples/ runs on this image
# with no image of its own (`kubectl apply -f examples/chain/graph.yaml`). The working directory
# is the HTTP model-server example's, whose node starts `python server.py`.
ENV PATH="/opt/braid/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH="/opt/braid/examples/autoscaling:/opt/braid/examples/batching:/opt/braid/examples/canary:/opt/braid/examples/chain:/opt/braid/examples/content-understanding:/opt/braid/examples/dispatch:/opt/braid/examples/ensemble:/opt/braid/examples/fastapi-ingress:/opt/braid/examples/fused-chain:/opt/braid/examples/hello:/opt/braid/examples/http-model-server:/opt/braid/examples/inference-chain:/opt/braid/examples/iris:/opt/braid/examples/model-weights:/opt/braid/examples/multiplexing:/opt/braid/examples/pass-by-reference:/opt/braid/examples/quorum:/opt/braid/examples/request-context:/opt/braid/examples/soft-steps:/opt/braid/examples/streaming:/opt/braid/examples/structured-output:/opt/braid/examples/subgraphs"
WORKDIR /opt/braid/examples/http-model-server
# 65532 is the UID the operator renders into every pod's securityContext (runAsUser).
USER 65532:65532
EXPOSE 7000 8000 9000 9090
ENTRYPOINT ["braid"]
CMD ["--help"]
