"""Running a flow: one graph request driven across the sidecars, from the ingress.

For each request the :class:`FlowRunner` picks a replica for every step up front and sends
every root step's ``CallRequest`` at once (continuations ride inside their producer's call,
and a join's own producers inside the join's), without waiting for inputs: a step's
references to other steps travel as ``Upstream`` entries that name the producer's replica,
and the consumer's sidecar fetches the value from the producer's sidecar itself (or calls a
join's own producer and takes the value from its reply), so that intermediate values never pass
through the ingress. Only a dispatch step waits, for the value it switches on (fetched from its
producer, which counts as one of that producer's consumers), and the steps that consume a
dispatch step wait for its replica to be chosen. A split step waits for its key the same way
(a request header needs no wait). A structured output, and the intermediate results a request
asks for, are fetched by the ingress from the steps' sidecars and assembled here. The request
headers that the graph forwards ride in every call's ``context``, and the response headers
that node code set come back in the replies, gathered for the ingress to send.

The output step is called with ``CallStream`` until its method is known: a first item marked
``final`` means "not a generator, this is the whole value", and the runner remembers per
``(node, method)`` that later requests may use the cheaper unary ``Call``.

A sub-graph step (``graph:``) is the one step the ingress runs itself: it fetches the step's
inputs, calls the other graph (``_flow/subgraphs.py``), and sends the output inline
(``Upstream.value``) to the steps that consume it, which wait for it.

Failures: the first failing call fails the request with the origin error (``origin_of``) and
cancels every other call of the request; a deadline bounds everything. When a step's replica
could not even be reached (connection refused), the replica is marked down and the whole request
is tried once more on other replicas; a call that reached a replica is never retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import grpc

from braid.runtime._flow.headers import allowed_headers
from braid.runtime._flow.outputs import assemble, check_intermediates
from braid.runtime._flow.planning import (
    CallPlan,
    DispatchPlan,
    FlowPlan,
    StepPlan,
    build_call,
    choose_case,
    pick_input,
    plan_dispatch,
)
from braid.runtime._flow.results import Event, FlowResult, Output
from braid.runtime._flow.splitting import choose_split
from braid.runtime._flow.subgraphs import DEADLINE_EXPLAINED, GraphCalls
from braid.runtime._proto.braid_pb2 import (
    CallReply,
    CallRequest,
    FlowContext,
    FlowDegraded,
    FlowQuorum,
    Payload,
    Upstream,
)
from braid.runtime._wire.client import DEADLINE_MARGIN, ReplicaClient, never_reached
from braid.runtime._wire.codec import decode, encode
from braid.runtime._wire.errors import (
    BadRequest,
    DeadlineExceeded,
    ReplicaUnavailable,
    RequestError,
    StepTimedOut,
    StreamingOutput,
    UserCodeError,
    origin_of,
)
from braid.spec import Reference, substitute

logger = logging.getLogger(__name__)

#: Stream items the runner reads ahead of the client; beyond them gRPC flow control holds the
#: producer back, so that a slow client never makes the ingress buffer a whole stream.
STREAM_WINDOW = 8

#: Notes a split's choice: (graph, step, the chosen call as "node.method").
SplitObserver = Callable[[str, str, str], None]


class FlowRunner:
    """Runs requests of one graph across the sidecars of its nodes."""

    def __init__(
        self,
        plan: FlowPlan,
        client: ReplicaClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        graphs: GraphCalls | None = None,
        on_split: SplitObserver | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.plan = plan
        self.client = client
        self.clock = clock
        #: Where sub-graph steps (``graph:``) call their graphs.
        self.graphs = graphs or GraphCalls(clock=clock)
        self.on_split = on_split
        #: Draws for splits without a key (a request's key hashes, never draws).
        self.rng = rng or random.Random()  # noqa: S311 - traffic shares, not secrets
        #: Whether a (node, method) is a generator, learnt from its first reply.
        self.streams: dict[tuple[str, str], bool] = {}
        self._background: set[asyncio.Task[None]] = set()
        # Continuations, before and after the output is known not to stream.
        self._dispatch_plans = {
            unary: plan_dispatch(plan, output_unary=unary) for unary in (False, True)
        }

    def dispatch_plan(self) -> DispatchPlan:
        """How to send this request's steps, given what is known about the output's method."""
        output = self.plan.output_step
        unary = (
            output is not None
            and output.call is not None
            and (
                self.streams.get((output.call.node, output.call.method)) is False
                or _guarded(output)
            )
        )
        return self._dispatch_plans[unary]

    async def start(
        self,
        input_value: Any,
        *,
        deadline: float,
        allow_stream: bool = True,
        model_id: str = "",
        headers: Mapping[str, str] | None = None,
        intermediates: Sequence[str] = (),
    ) -> FlowResult:
        """Dispatch a request and return once its output (or first stream item) is known;
        ``model_id``: the request's model, for the steps calling multiplexed nodes;
        ``headers``: the request's headers (lower-case names), for splits keyed by a header
        and for node code (those in ``forwardHeaders``); ``intermediates``: exposed steps whose
        results to return beside the output."""
        check_intermediates(intermediates, self.plan.expose, self.plan.graph)
        for attempt in range(2):
            run = _Run(
                self,
                input_value,
                deadline,
                allow_stream=allow_stream,
                model_id=model_id,
                headers=headers or {},
                intermediates=tuple(intermediates),
            )
            try:
                return await run.first()
            except RequestError:
                if attempt == 0 and run.unreached and self.clock() < deadline:
                    logger.info("graph %s: a replica was unreachable; retrying", self.plan.graph)
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def keep(self, task: asyncio.Task[None]) -> None:
        """Let a request's remaining calls finish in the background after its output is sent."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.graphs.close()


class _Run:
    """The state of one request: chosen replicas, in-flight calls and the output's events."""

    def __init__(
        self,
        runner: FlowRunner,
        input_value: Any,
        deadline: float,
        *,
        allow_stream: bool,
        model_id: str = "",
        headers: Mapping[str, str],
        intermediates: tuple[str, ...] = (),
    ) -> None:
        self.runner = runner
        self.headers = headers
        self.intermediates = intermediates
        forwarded = allowed_headers(headers, runner.plan.forward_headers)
        self.context = FlowContext(headers=forwarded) if forwarded else None
        #: Response headers set by node code, from the replies that reached the ingress.
        self.response_headers: dict[str, str] = {}
        self.model_id = model_id
        self.plan = runner.plan
        self.input = input_value
        self.deadline = deadline
        #: The request's time budget in seconds, for the message of a deadline error.
        self.budget = deadline - runner.clock()
        self.allow_stream = allow_stream
        self.request_id = uuid.uuid4().hex
        self.dispatch = runner.dispatch_plan()
        self.addresses: dict[str, asyncio.Future[str]] = {}
        #: The outputs of sub-graph steps, decoded: their consumers get them inline.
        self.values: dict[str, asyncio.Future[Any]] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.credit = asyncio.Semaphore(STREAM_WINDOW)
        self.failed = False
        self.done = False
        #: The failure was a replica that could not be reached at all (safe to retry).
        self.unreached = False
        self.output_node = ""
        #: Steps that answered with a fallback or were missing from a quorum (decision 0021).
        self.degraded: dict[str, FlowDegraded] = {}
        #: The task of each root step, to wait for the replies that report degraded steps.
        self.roots: dict[str, asyncio.Task[None]] = {}

    # -- the consumer's side ----------------------------------------------------------------

    async def first(self) -> FlowResult:
        try:
            await self._dispatch()
            event = await self.next_event()
        except BaseException:
            self.cancel()
            raise
        if event[0] == "error":
            self.cancel()
            raise event[1]
        if event[0] == "value":
            if self.plan.guarded:
                await self._settle()
            self._finish()
        result = FlowResult(self, event)
        result.degraded = tuple(self.degraded.values())
        result.headers = self.response_headers
        if self.intermediates:
            if result.streaming:
                self.cancel()
                raise BadRequest(
                    "intermediate results come with a single output, not a stream: read the "
                    "output with Invoke (gRPC) or without asking for intermediates"
                )
            result.intermediates = await self._intermediates()
        return result

    async def _settle(self) -> None:
        """Wait (within the deadline) for the replies of the root steps that lead to the
        output other than through a quorum join: they report the steps that degraded."""
        pending = [
            task
            for name, task in self.roots.items()
            if name in self.plan.hard_path and not task.done() and not self._carries_contained(name)
        ]
        left = self.deadline - self.runner.clock()
        if pending and left > 0:
            await asyncio.wait(pending, timeout=left)

    def _carries_contained(self, root: str) -> bool:
        """Whether a continuation of ``root`` is a step a quorum join may go on without: its
        reply may never come before the deadline (the join reports it as missing)."""
        steps = list(self.dispatch.then.get(root, ()))
        while steps:
            name = steps.pop()
            if name in self.plan.contained:
                return True
            steps.extend(self.dispatch.then.get(name, ()))
        return False

    def _note(self, reply: CallReply) -> None:
        """Remember the degraded steps that ``reply`` and its continuations' replies name, and
        the response headers their code set."""
        for degraded in reply.degraded:
            self.degraded.setdefault(degraded.step, degraded)
        if reply.response_headers:
            self.response_headers.update(reply.response_headers)
        for follow in reply.then:
            self._note(follow)

    async def next_event(self, *, item_taken: bool = False) -> Event:
        if item_taken:
            self.credit.release()
        # The sidecars' own timers fire at the deadline and name the late step; this one, a
        # little later, is the backstop for a sidecar that cannot answer at all.
        left = self.deadline - self.runner.clock() + 2 * DEADLINE_MARGIN
        try:
            async with asyncio.timeout(max(left, 0.0)):
                event = await self.events.get()
        except TimeoutError:
            self.cancel()
            step = self.plan.output.source
            late = DeadlineExceeded(f'step "{step}" did not answer before the deadline', step=step)
            self._locate(late, step)
            late.node = self.output_node or late.node
            return ("error", self._explained(late))
        if event[0] in ("end", "error"):
            self._finish()
        return event

    def output(self, payload: Payload) -> Output:
        if self.plan.template is not None:  # assembled here, every path picked already
            return Output(payload, (), self.plan.output.source)
        return Output(payload, self.plan.output.path, self.plan.output.source, self.output_node)

    def cancel(self) -> None:
        self.done = True
        for task in self.tasks:
            task.cancel()
        for future in self.addresses.values():
            future.cancel()
        for value in self.values.values():
            value.cancel()

    def _finish(self) -> None:
        """The output is complete: let the remaining replies arrive in the background."""
        self.done = True
        for task in self.tasks:
            if not task.done():
                self.runner.keep(task)

    # -- the calls ---------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        if self.plan.template is None and self.plan.output_step is None:  # the input itself
            value = pick_input(self.plan.output, self.input, step=self.plan.output.source)
            self.events.put_nowait(("value", encode(value)))
            return
        for step in self.plan.steps:
            self.addresses[step.name] = loop.create_future()
            if step.subgraph is not None:
                self.values[step.name] = loop.create_future()
        for step in self.plan.steps:
            if step.call is not None:
                await self._choose(step.name)
        for name in self.dispatch.roots:
            step = self.plan.step(name)
            task = asyncio.create_task(self._step(step), name=f"{self.request_id}/{step.name}")
            task.add_done_callback(self._finished)
            self.tasks.append(task)
            self.roots[name] = task
        if self.plan.template is not None:
            name = f"{self.request_id}/{self.plan.output.source}"
            task = asyncio.create_task(self._assemble(), name=name)
            task.add_done_callback(self._finished)
            self.tasks.append(task)

    async def _assemble(self) -> None:
        """A structured output: fetch each step it refers to, and fill in the template."""
        names = self.plan.template_steps
        fetched = await asyncio.gather(*(self._fetch_result(name) for name in names))
        values = dict(zip(names, fetched, strict=True))
        try:
            value = assemble(
                self.plan.template, values, flow_input=self.plan.input, input_value=self.input
            )
        except LookupError as exc:
            raise UserCodeError(f"the graph output: {exc}") from exc
        self.events.put_nowait(("value", encode(value)))

    async def _intermediates(self) -> dict[str, Any]:
        names = self.intermediates
        fetched = await asyncio.gather(*(self._fetch_result(name) for name in names))
        return dict(zip(names, fetched, strict=True))

    async def _fetch_result(self, name: str) -> Any:
        """A step's stored result (it counts the ingress among its consumers), or a sub-graph
        step's output, which the ingress holds itself."""
        if name in self.values:
            return await self.values[name]
        address = await self.addresses[name]
        with self._noting_unreached(address):
            payload = await self.runner.client.fetch(
                address,
                f"{self.request_id}/{name}",
                [],
                deadline=self.deadline,
                node=_node_of(self.plan.step(name)),
            )
        return decode(payload)

    async def _choose(self, name: str) -> str:
        """A step's replica; a co-located continuation goes where its parent runs."""
        future = self.addresses[name]
        if not future.done():
            parent = self.dispatch.colocated.get(name)
            call = self.plan.step(name).call
            if parent is not None and self.plan.step(parent).call is not None:
                address = await self._choose(parent)
            elif call is not None:
                address = await self._replica_of(call.node, name, self._model_of(name, call.node))
            else:
                return await future  # a dispatch step: chosen once its case is known
            if not future.done():
                future.set_result(address)
        return future.result()

    def _finished(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self.failed:
            return
        exc = task.exception()
        if exc is None:
            return
        if not isinstance(exc, RequestError):
            logger.error("graph %s: internal error in the flow", self.plan.graph, exc_info=exc)
            exc = RequestError(f"internal error in the ingress: {type(exc).__name__}: {exc}")
        origin = origin_of(exc)
        if origin.step in self.plan.contained or task.get_name().rpartition("/")[2] in (
            self.plan.contained
        ):  # a quorum join downstream decides whether the request can do without it
            logger.debug("graph %s: %s (left to a quorum join)", self.plan.graph, origin.message)
            return
        self.failed = True
        if not self.done:
            self._locate(origin, task.get_name().rpartition("/")[2])
            self.events.put_nowait(("error", self._explained(origin)))
        self.cancel()

    def _locate(self, error: RequestError, root: str) -> None:
        """Name the step (and node) of an error that came without one: the step sent as
        ``root`` or, when a continuation of it runs on the error's node, that continuation."""
        steps, index = [root], 0
        while index < len(steps):
            steps.extend(self.dispatch.then.get(steps[index], ()))
            index += 1
        if not error.step:
            nodes = {name: _node_of(self.plan.step(name)) for name in steps}
            error.step = next((n for n in steps if error.node and nodes[n] == error.node), root)
        if not error.node and error.step in {step.name for step in self.plan.steps}:
            error.node = _node_of(self.plan.step(error.step))

    def _explained(self, error: RequestError) -> RequestError:
        """A deadline error says what the deadline was and how to raise it."""
        if (
            isinstance(error, DeadlineExceeded)
            and not isinstance(error, StepTimedOut)  # the step's own limit, not the request's
            and "requestTimeoutSeconds" not in error.message
        ):
            error.message = (
                f"{error.message}{DEADLINE_EXPLAINED}{self.budget:.3g} s passed; raise "
                "spec.ingress.requestTimeoutSeconds or send a longer X-Request-Timeout header "
                "(HTTP) or gRPC deadline (up to spec.ingress.maxRequestTimeoutSeconds)"
            )
            error.args = (error.message,)
        return error

    async def _step(self, step: StepPlan) -> None:
        if step.subgraph is not None:
            await self._subgraph_step(step, step.subgraph)
            return
        call = step.call
        if call is None:
            if step.weights:
                call = await self._split(step)
            else:
                call = choose_case(step, await self._switch_value(step))
            model_id = self._model_of(step.name, call.node)
            self.addresses[step.name].set_result(
                await self._replica_of(call.node, step.name, model_id)
            )
        address = self.addresses[step.name].result()
        producers = {}
        for ref in call.upstreams:
            if ref.source in self.values:  # a sub-graph's output: it goes inline
                await self.values[ref.source]
            else:
                producers[ref.source] = await self.addresses[ref.source]
        request = self._request(step, call, producers)
        client = self.runner.client
        with self._noting_unreached(address):
            if step.returns:
                self.output_node = call.node
                await self._output(request, address, call)
                return
            _, reply = await client.call(request, deadline=self.deadline, address=address)
        self._note(reply)
        chain = self.dispatch.output_chain
        if chain and chain[0] == step.name:  # the output rode along as a continuation
            for index in self.dispatch.output_indices():
                reply = reply.then[index]
            self.output_node = _node_of(self.plan.step(chain[-1]))
            self.events.put_nowait(("value", reply.result))

    async def _split(self, step: StepPlan) -> CallPlan:
        """A split step's call: by the hash of its key (a header, or a value), else at random."""
        key: Any = None
        if step.split_header:
            key = self.headers.get(step.split_header)
        elif step.switch is not None:
            key = await self._switch_value(step)
        call = step.cases[choose_split(step.weights, key, self.runner.rng)]
        if self.runner.on_split is not None:
            self.runner.on_split(self.plan.graph, step.name, f"{call.node}.{call.method}")
        return call

    def _model_of(self, step: str, node: str) -> str:
        """The model a step's call is for: the step's ``modelId``, else the request's, for a
        multiplexed node; "" otherwise."""
        if node not in self.plan.multiplexed:
            return ""
        return self.plan.step(step).model_id or self.model_id

    async def _replica_of(self, node: str, step: str, model_id: str = "") -> str:
        """A replica of ``node`` for ``step``, waiting a while if none is ready; a replica
        in this process first, when it takes calls (``braid run --entry-in-ingress``)."""
        if not model_id and (local := self.runner.client.local_choice(node)) is not None:
            return local
        try:
            return await self.runner.client.router.wait_choose(
                node, deadline=self.deadline, model_id=model_id
            )
        except ReplicaUnavailable as exc:
            exc.step = exc.step or step
            raise

    def _request(
        self,
        step: StepPlan,
        call: CallPlan,
        producers: Mapping[str, str],
        *,
        continuation: bool = False,
        nested: bool = False,
    ) -> CallRequest:
        """The call of ``step``, with its continuations nested in ``then`` and the producers
        it calls itself (a join's, ``DispatchPlan.nested``) in their ``Upstream.call``.

        An upstream missing from ``producers`` is the parent of a continuation: its address
        stays empty and the parent's sidecar puts the value inline.
        """
        inner = self.dispatch.nested.get(step.name, ())

        def upstream(reference: Reference) -> Upstream:
            if reference.source in self.values:
                return self._inline(reference, step.name)
            entry = Upstream(
                address=producers.get(reference.source, ""),
                key=f"{self.request_id}/{reference.source}",
                path=list(reference.path),
            )
            if reference.source in inner:
                producer = self.plan.step(reference.source)
                if producer.call is not None:
                    entry.call.CopyFrom(self._request(producer, producer.call, {}, nested=True))
            return entry

        args, upstreams = build_call(
            call,
            step=step.name,
            flow_input=self.plan.input,
            input_value=self.input,
            upstream=upstream,
            shared=self.runner.client.shared,
        )
        consumers = self.dispatch.consumers[step.name]
        if step.name in self.intermediates:
            consumers += 1  # the ingress fetches it for this request
        then = []
        for name in self.dispatch.then.get(step.name, ()):
            child = self.plan.step(name)
            if child.call is not None:
                then.append(self._request(child, child.call, {}, continuation=True))
        guard, quorum = step.guard, step.quorum
        if quorum is not None and call.missing_argument is not None:
            quorum = FlowQuorum(
                min=quorum.min, within=quorum.within, missing_index=len(call.upstreams)
            )
        return CallRequest(
            guard=guard,
            quorum=quorum,
            request_id=self.request_id,
            graph=self.plan.graph,
            step=step.name,
            node=call.node,
            method=call.method,
            args=args,
            upstreams=upstreams,
            result_key=f"{self.request_id}/{step.name}" if consumers else "",
            consumers=consumers,
            return_result=step.returns or nested,
            caller="ingress",
            address=self.addresses[step.name].result() if continuation or nested else "",
            then=then,
            model_id=self._model_of(step.name, call.node),
            context=self.context,
        )

    async def _switch_value(self, step: StepPlan) -> Any:
        switch = step.switch
        if switch is None:  # pragma: no cover - a dispatch step always has a switch
            raise RequestError(f'step "{step.name}" has neither a call nor a dispatch')
        if switch.source == self.plan.input:
            return pick_input(switch, self.input, step=step.name)
        if switch.source in self.values:
            return _picked(switch, await self.values[switch.source], step=step.name)
        address = await self.addresses[switch.source]
        with self._noting_unreached(address):
            payload = await self.runner.client.fetch(
                address,
                f"{self.request_id}/{switch.source}",
                switch.path,
                deadline=self.deadline,
                node=_node_of(self.plan.step(switch.source)),
            )
        return decode(payload)

    async def _subgraph_step(self, step: StepPlan, call: CallPlan) -> None:
        """Run a sub-graph step here: gather its input, call the graph, keep its output."""
        found: dict[Reference, Any] = {}
        for reference in call.upstreams:
            if reference.source in self.values:
                found[reference] = _picked(
                    reference, await self.values[reference.source], step=step.name
                )
                continue
            address = await self.addresses[reference.source]
            with self._noting_unreached(address):
                payload = await self.runner.client.fetch(
                    address,
                    f"{self.request_id}/{reference.source}",
                    reference.path,
                    deadline=self.deadline,
                    node=_node_of(self.plan.step(reference.source)),
                )
            found[reference] = decode(payload)

        def resolve(reference: Reference) -> Any:
            if reference.source == self.plan.input:
                return pick_input(reference, self.input, step=step.name)
            return found[reference]

        args = substitute(list(call.args), resolve)
        kwargs = substitute(dict(call.kwargs), resolve)
        value = args[0] if args else (kwargs or None)
        output = await self.runner.graphs.call(
            call.node, value, step=step.name, deadline=self.deadline, model_id=self.model_id
        )
        self.values[step.name].set_result(output)
        if step.returns:
            self.output_node = call.node
            self.events.put_nowait(("value", encode(output)))

    def _inline(self, reference: Reference, consumer: str) -> Upstream:
        """The entry of a sub-graph step's output, sent inline to a step that consumes it."""
        value = _picked(reference, self.values[reference.source].result(), step=consumer)
        return Upstream(key=f"{self.request_id}/{reference.source}", value=encode(value))

    async def _output(self, request: CallRequest, address: str, call: CallPlan) -> None:
        client, key = self.runner.client, (call.node, call.method)
        known = self.runner.streams.get(key)
        if known and not self.allow_stream:
            raise _streaming_error(call)
        if known is False or _guarded(self.plan.step(request.step)):
            _, reply = await client.call(request, deadline=self.deadline, address=address)
            self._note(reply)
            self.events.put_nowait(("value", reply.result))
            return
        stream = client.call_stream(request, deadline=self.deadline, address=address)
        try:
            first = True
            async for item in stream:
                for degraded in item.degraded:
                    self.degraded.setdefault(degraded.step, degraded)
                if first:
                    if item.response_headers:
                        self.response_headers.update(item.response_headers)
                    self.runner.streams[key] = not item.final
                    if item.final:
                        self.events.put_nowait(("value", item.item))
                        return
                    if not self.allow_stream:
                        raise _streaming_error(call)
                    first = False
                await self.credit.acquire()
                self.events.put_nowait(("item", item.item))
            if first:  # a generator that yielded nothing
                self.runner.streams[key] = True
                if not self.allow_stream:
                    raise _streaming_error(call)
            self.events.put_nowait(("end", None))
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    @contextlib.contextmanager
    def _noting_unreached(self, address: str) -> Iterator[None]:
        try:
            yield
        except ReplicaUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, grpc.aio.AioRpcError) and never_reached(cause):
                self.runner.client.router.mark_down(address)
                self.unreached = True
            raise


def _guarded(step: StepPlan) -> bool:
    """Whether ``step``'s failure handling runs in its sidecar: its output is sent unary."""
    return step.guard is not None or step.quorum is not None


def _node_of(step: StepPlan) -> str:
    return step.call.node if step.call is not None else ""


def _picked(reference: Reference, value: Any, *, step: str) -> Any:
    """A field of a sub-graph step's output, for ``step``; the error names what is missing."""
    try:
        return reference.pick(value)
    except LookupError as exc:
        raise UserCodeError(
            f'step "{step}" needs {reference}, which the output of sub-graph step '
            f'"{reference.source}" does not have: {exc}',
            step=step,
        ) from exc


def _streaming_error(call: CallPlan) -> StreamingOutput:
    return StreamingOutput(
        f"the graph output comes from {call.node}.{call.method}, a generator: call it with "
        "InvokeStream (gRPC) or read it as a stream",
        node=call.node,
    )
