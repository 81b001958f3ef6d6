"""The one small client layer between the reconciler and the Kubernetes API.

:class:`KubernetesApi` is the seam: the reconciler talks to it only, the handler tests run it
against kmock's emulator, and :class:`ApiClientKubernetes` implements it over
``kubernetes_asyncio``'s authenticated client (in-cluster or kubeconfig credentials) with plain
REST calls: server-side apply with field manager ``braid``, label-selected lists, deletes, and
merge patches of the graph's status. Errors leave this module as :class:`KubernetesError`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from braid.operator._errors import KubernetesError, ObjectNotFound
from braid.operator._labels import FIELD_MANAGER, KubeObject
from braid.spec import API_GROUP, API_VERSION, PLURAL

logger = logging.getLogger(__name__)

_APPLY = "application/apply-patch+yaml"
_MERGE = "application/merge-patch+json"
_JSON = "application/json"
#: Seconds one API request may take before it counts as failed (and the reconcile is retried).
REQUEST_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str, name: str | None = None) -> str:
        """The URL path; ``namespace`` is ignored for a cluster-scoped kind."""
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        where = f"/namespaces/{namespace}" if self.namespaced else ""
        path = f"{prefix}{where}/{self.plural}"
        return f"{path}/{name}" if name else path


DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments")
GRAPHS = Resource(f"{API_GROUP}/{API_VERSION}", "DeploymentGraph", PLURAL)
EVENTS = Resource("v1", "Event", "events")
PODS = Resource("v1", "Pod", "pods")
#: kopf's peering objects: one cluster-wide, or one per watched namespace.
CLUSTER_PEERINGS = Resource("kopf.dev/v1", "ClusterKopfPeering", "clusterkopfpeerings", False)
PEERINGS = Resource("kopf.dev/v1", "KopfPeering", "kopfpeerings")
#: Every kind a graph may render to, in the order they are pruned (workloads first).
OWNED = (
    DEPLOYMENTS,
    Resource("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
    Resource("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    Resource("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    Resource("v1", "Service", "services"),
    Resource("v1", "ConfigMap", "configmaps"),
    Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
    Resource("rbac.authorization.k8s.io/v1", "Role", "roles"),
    Resource("v1", "ServiceAccount", "serviceaccounts"),
)
_BY_KIND = {(r.api_version, r.kind): r for r in (*OWNED, GRAPHS)}


def resource_of(obj: KubeObject) -> Resource:
    """Where a rendered object lives; :class:`KubernetesError` for a kind braid never renders."""
    key = (str(obj.get("apiVersion")), str(obj.get("kind")))
    try:
        return _BY_KIND[key]
    except KeyError:
        raise KubernetesError(f"braid does not manage {key[1]} ({key[0]}) objects") from None


#: The field manager of the autoscaler's replica counts (the reconcile applies as ``braid``).
SCALER_FIELD_MANAGER = "braid-autoscaler"


class KubernetesApi(Protocol):
    """What the reconciler needs from the API server."""

    async def apply(self, obj: KubeObject) -> KubeObject:
        """Server-side apply ``obj`` (create or update) as field manager ``braid``."""
        ...

    async def list_objects(
        self, resource: Resource, namespace: str, selector: str
    ) -> list[KubeObject]:
        """Objects of ``resource`` in ``namespace`` that match the label ``selector``."""
        ...

    async def get(self, resource: Resource, namespace: str, name: str) -> KubeObject:
        """One object; :class:`ObjectNotFound` when it does not exist."""
        ...

    async def delete(self, resource: Resource, namespace: str, name: str) -> None:
        """Delete one object (its dependents in the background); gone already is fine."""
        ...

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Replace the status of a DeploymentGraph (a merge patch of the status subresource)."""
        ...

    async def create(self, resource: Resource, namespace: str, obj: KubeObject) -> None:
        """Create one object (an Event); it must not exist yet."""
        ...

    async def patch(self, resource: Resource, namespace: str, name: str, body: KubeObject) -> None:
        """A JSON merge patch of one object (the autoscaler's replicas)."""
        ...


class ApiClientKubernetes:
    """:class:`KubernetesApi` over an authenticated ``kubernetes_asyncio`` ``ApiClient``."""

    def __init__(self, api_client: Any) -> None:
        self._client = api_client

    async def apply(self, obj: KubeObject) -> KubeObject:
        meta = obj.get("metadata") or {}
        path = resource_of(obj).path(str(meta.get("namespace")), str(meta.get("name")))
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        result = await self._call("PATCH", path, query=query, body=obj, content_type=_APPLY)
        return result if isinstance(result, dict) else {}

    async def list_objects(
        self, resource: Resource, namespace: str, selector: str
    ) -> list[KubeObject]:
        query = [("labelSelector", selector)]
        result = await self._call("GET", resource.path(namespace), query=query)
        items = result.get("items") if isinstance(result, dict) else None
        return [item for item in items or [] if isinstance(item, dict)]

    async def get(self, resource: Resource, namespace: str, name: str) -> KubeObject:
        result = await self._call("GET", resource.path(namespace, name))
        return result if isinstance(result, dict) else {}

    async def delete(self, resource: Resource, namespace: str, name: str) -> None:
        body = {"propagationPolicy": "Background"}
        try:
            await self._call("DELETE", resource.path(namespace, name), body=body)
        except ObjectNotFound:
            logger.debug("%s %s/%s was already gone", resource.kind, namespace, name)

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        path = GRAPHS.path(namespace, name) + "/status"
        await self._call("PATCH", path, body={"status": status}, content_type=_MERGE)

    async def create(self, resource: Resource, namespace: str, obj: KubeObject) -> None:
        await self._call("POST", resource.path(namespace), body=obj)

    async def patch(self, resource: Resource, namespace: str, name: str, body: KubeObject) -> None:
        query = [("fieldManager", SCALER_FIELD_MANAGER)]
        path = resource.path(namespace, name)
        await self._call("PATCH", path, query=query, body=body, content_type=_MERGE)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: object = None,
        content_type: str = _JSON,
    ) -> Any:
        # Imported here: kubernetes_asyncio is in the "operator" extra, the renderer needs none.
        import aiohttp  # noqa: PLC0415
        from kubernetes_asyncio.client.exceptions import ApiException  # noqa: PLC0415

        try:
            return await self._client.call_api(
                path,
                method,
                query_params=query or [],
                header_params={"Content-Type": content_type, "Accept": _JSON},
                body=body,
                auth_settings=["BearerToken"],
                response_types_map={200: "object", 201: "object"},
                _return_http_data_only=True,
                _request_timeout=REQUEST_TIMEOUT_SECONDS,
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            message = f"{method} {path} failed: HTTP {status} {_reason(exc)}"
            if status == 404:
                raise ObjectNotFound(message, status) from exc
            raise KubernetesError(message, status) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise KubernetesError(f"{method} {path} failed: {exc!r}") from exc


def _reason(exc: Any) -> str:
    """The API server's own message from a Status body, else the HTTP reason."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or exc.reason or "")
