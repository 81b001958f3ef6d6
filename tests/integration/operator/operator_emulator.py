"""An emulated Kubernetes API for the operator's handler tests (kmock with server-side fields).

kmock's ``KubernetesEmulator`` stores objects and serves lists and watches, but sets no
server-side fields and merges every patch (see TESTING.md). :class:`ApiServer` fills the gaps the
operator depends on:

- a create gets ``uid``, ``resourceVersion``, ``generation``, ``creationTimestamp`` and the
  namespace from the URL;
- a server-side apply (``application/apply-patch+yaml``) of a missing object creates it, and of an
  existing one replaces what the applier sent (keeping status and server metadata), which is what
  server-side apply does for a single field manager;
- every write bumps ``resourceVersion``, and a changed spec bumps ``generation``;
- a merge patch of a missing (or deleted) object is a 404, as on a real cluster; kmock would
  store the patch as the object and so bring back a deleted graph when kopf's late patch of its
  annotations arrives after the delete.

And it models what a real cluster does that kmock does not (TESTING.md):

- a write whose object carries more than 256 KiB of annotations in total fails with 422;
- :meth:`ApiServer.outage` answers every request with the 503 of a restarting API server
  ("the request has been made before all known HTTP paths have been installed");
- :meth:`ApiServer.forbid` answers some writes with 403, as a hardened cluster does before an
  RBAC change reaches it (OwnerReferencesPermissionEnforcement).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import dicts, enums

_SERVER_META = ("uid", "creationTimestamp", "generation", "resourceVersion")
GRAPHS = "braid.dev/v1alpha1/deploymentgraphs"
#: The API server's cap on the total size of one object's annotations (keys and values).
ANNOTATIONS_LIMIT = 256 * 1024
RESTARTING = "the request has been made before all known HTTP paths have been installed"


def annotations_size(obj: dict[str, Any]) -> int:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return sum(len(key.encode()) + len(str(value).encode()) for key, value in annotations.items())


def status_response(code: int, reason: str, message: str) -> aiohttp.web.StreamResponse:
    body = {
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }
    return aiohttp.web.json_response(body, status=code)


def merge_diff(old: Any, new: Any) -> Any:
    """A JSON merge patch that turns ``old`` into ``new`` (None deletes a key)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_diff(old[key], value)
    return patch


class ApiServer(kmock.KubernetesEmulator):
    """kmock's emulator with the server-side behaviour the operator relies on."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._versions = itertools.count(1)
        self._down = False
        self.refused = 0
        #: The paths of the requests refused by an outage or a 403, in order.
        self.refusals: list[str] = []
        self._forbidden: dict[str, int] = {}

    def outage(self, down: bool) -> None:
        """Start or end an API server outage: every request gets 503 while it lasts."""
        self._down = down

    def forbid(self, path_part: str, times: int) -> None:
        """Answer the next ``times`` writes whose path contains ``path_part`` with 403."""
        self._forbidden[path_part] = times

    def stored(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = (kmock.resource(resource), namespace, name)
        if key not in self.objects or self.objects[key].deleted:
            return None
        return copy.deepcopy(self.objects[key].raw)

    def all_stored(self, resource: str) -> dict[str, dict[str, Any]]:
        wanted = kmock.resource(resource)
        return {
            name: copy.deepcopy(obj.raw)
            for (res, _, name), obj in self.objects.items()
            if res == wanted and not obj.deleted
        }

    async def _handle(self, request: Any) -> Any:
        if self._down:
            self.refused += 1
            self.refusals.append(request.url.path)
            return status_response(503, "ServiceUnavailable", RESTARTING)
        if request.method in {"POST", "PATCH", "PUT"}:
            for part, left in self._forbidden.items():
                if left > 0 and part in request.url.path:
                    self._forbidden[part] = left - 1
                    self.refused += 1
                    self.refusals.append(request.url.path)
                    return status_response(403, "Forbidden", f"cannot write {request.url.path}")
        original = request
        if request.resource is not None and isinstance(request.data, dict):
            if request.action == enums.action.CREATE:
                request = attrs.evolve(request, data=self._created(request, request.data))
            elif request.action == enums.action.UPDATE:
                updated = self._updated(request)
                if updated is None:
                    what = f"{request.resource.plural} {request.name!r}"
                    return status_response(404, "NotFound", f"{what} not found")
                request = updated
            stored = self._resulting(request)
            if stored is not None and annotations_size(stored) > ANNOTATIONS_LIMIT:
                return status_response(
                    422,
                    "Invalid",
                    f"metadata.annotations: Too long: must have at most {ANNOTATIONS_LIMIT} bytes",
                )
        if request is not original:
            # kmock matches reactions against the requests it recorded: record the rewritten one.
            index = next(i for i, seen in enumerate(self._requests) if seen is original)
            self._requests[index] = request
        return await super()._handle(request)

    def _resulting(self, request: Any) -> dict[str, Any] | None:
        """The object a create or update would store (None for anything else)."""
        if request.action == enums.action.CREATE:
            return dict(request.data)
        if request.action != enums.action.UPDATE:
            return None
        key = (request.resource, request.namespace, request.name)
        if key not in self.objects or self.objects[key].deleted:
            return None
        merged: dict[str, Any] = dicts.patch_dict(
            copy.deepcopy(self.objects[key].raw), request.data
        )
        return merged

    def _created(self, request: Any, body: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(body)
        meta = body.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if request.namespace:
            meta.setdefault("namespace", request.namespace)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        meta["generation"] = 1
        meta["resourceVersion"] = str(next(self._versions))
        return body

    def _updated(self, request: Any) -> Any | None:
        key = (request.resource, request.namespace, request.name)
        exists = key in self.objects and not self.objects[key].deleted
        applying = "apply-patch" in request.headers.get("Content-Type", "")
        if not exists:
            if not applying:
                return None  # a merge patch of a missing object: 404, see _handle
            return attrs.evolve(
                request, action=enums.action.CREATE, data=self._created(request, request.data)
            )
        old = copy.deepcopy(self.objects[key].raw)
        if applying:
            new = copy.deepcopy(request.data)
            new_meta = new.setdefault("metadata", {})
            for field in _SERVER_META:
                if field in old.get("metadata", {}):
                    new_meta[field] = old["metadata"][field]
            if "status" in old:
                new["status"] = old["status"]
        else:
            new = dicts.patch_dict(copy.deepcopy(old), request.data)
        meta = new.setdefault("metadata", {})
        if request.subresource is None and old.get("spec") != new.get("spec"):
            meta["generation"] = int(old.get("metadata", {}).get("generation", 1)) + 1
        meta["resourceVersion"] = str(next(self._versions))
        return attrs.evolve(request, data=merge_diff(old, new))


def declare_resources(server: ApiServer) -> None:
    info = kmock.ResourceInfo
    verbs = ["get", "list", "watch", "create", "patch", "delete"]
    server.resources[GRAPHS] = info(
        kind="DeploymentGraph",
        singular="deploymentgraph",
        namespaced=True,
        verbs=verbs,
        subresources={"status"},
    )
    for resource, kind in [
        ("apps/v1/deployments", "Deployment"),
        ("v1/services", "Service"),
        ("v1/configmaps", "ConfigMap"),
        ("v1/serviceaccounts", "ServiceAccount"),
        ("v1/events", "Event"),
        ("rbac.authorization.k8s.io/v1/roles", "Role"),
        ("rbac.authorization.k8s.io/v1/rolebindings", "RoleBinding"),
        ("autoscaling/v2/horizontalpodautoscalers", "HorizontalPodAutoscaler"),
        ("policy/v1/poddisruptionbudgets", "PodDisruptionBudget"),
        ("networking.k8s.io/v1/networkpolicies", "NetworkPolicy"),
        ("v1/pods", "Pod"),
        ("kopf.dev/v1/kopfpeerings", "KopfPeering"),
    ]:
        server.resources[resource] = info(kind=kind, namespaced=True, verbs=verbs)
    server.resources["kopf.dev/v1/clusterkopfpeerings"] = info(
        kind="ClusterKopfPeering", namespaced=False, verbs=verbs
    )
    # kopf waits for both in its discovery before it starts any watch, even cluster-wide.
    server.resources["v1/namespaces"] = info(kind="Namespace", namespaced=False, verbs=verbs)
    server.resources["apiextensions.k8s.io/v1/customresourcedefinitions"] = info(
        kind="CustomResourceDefinition", namespaced=False, verbs=verbs
    )


async def watches_open(server: ApiServer, operators: int = 1) -> None:
    """Wait until ``operators`` operators watch graphs and Deployments (bounded)."""
    for _ in range(500):
        watches = [
            str(r.resource.plural) for r in server if r.action == enums.action.WATCH and r.resource
        ]
        if min(watches.count("deploymentgraphs"), watches.count("deployments")) >= operators:
            return
        await asyncio.sleep(0.02)
    seen = [f"{r.method} {r.url.path_qs} {r.action}" for r in server]
    raise AssertionError(f"kopf did not open its watches within 10 seconds; requests: {seen}")


async def eventually(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy (bounded)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        result = check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {seconds} s: {check}")
        await asyncio.sleep(0.05)
