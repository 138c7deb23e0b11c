"""The Callback Events tab's HTTP routes (see docs/routes.md).

Every route answers JSON; anything wrong with the request is a 400 or 404
with `{"error": "..."}`. Data comes from `context.data_provider`, for the
experiment the request names (as TensorBoard's own plugins do), except the
callback events on TensorBoard's Python loader, which the plugin reads from
the logdir's files itself (`logdir_store`).
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import logging
import operator
from collections.abc import Callable, Mapping
from typing import Any

from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin
from tensorboard.plugins.scalar import metadata as scalar_metadata
from werkzeug import wrappers

from tb_callbacks_plugin import conventions, event_format, metadata
from tb_callbacks_plugin.eventfiles import scalar_series
from tb_callbacks_plugin.server import hparams_listing, run_digest, static_files
from tb_callbacks_plugin.server.event_store import EventStore, RunEvents
from tb_callbacks_plugin.server.http_params import RouteError, one, parse_query
from tb_callbacks_plugin.server.logdir_store import LogdirEventStore
from tb_callbacks_plugin.server.provider_reads import KEEP_ALL
from tb_callbacks_plugin.server.run_names import RunNames
from tb_callbacks_plugin.server.scalar_store import ScalarStore

logger = logging.getLogger(__name__)

MAX_KIND_FILTERS = 64
MAX_POINTS = 2000
_ENCODER = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def sampling_limit(sampling_hints: Any) -> int:
    """Records per tag to ask for: the user's `--samples_per_plugin` value
    for this plugin, or everything (0, the default our loader sets, means
    keep all)."""
    hint = sampling_hints.get(metadata.PLUGIN_NAME) if isinstance(sampling_hints, Mapping) else None
    return hint if isinstance(hint, int) and hint > 0 else KEEP_ALL


def _json(request: wrappers.Request, body: str, code: int = 200) -> wrappers.Response:
    headers = [("Allow", "GET, HEAD")] if code == 405 else None
    return http_util.Respond(request, body, "application/json", code=code, headers=headers)


def _error(request: wrappers.Request, code: int, message: str) -> wrappers.Response:
    return _json(request, _ENCODER.encode({"error": message}), code)


def _route(handler: Callable[..., wrappers.Response]) -> Callable:
    """Makes `handler(self, request, params)` a WSGI app whose failures are
    JSON errors."""

    @functools.wraps(handler)
    @wrappers.Request.application  # type: ignore[arg-type]  # typed for functions; works on methods
    def app(self: CallbackEventsPlugin, request: wrappers.Request) -> wrappers.Response:
        try:
            if request.method not in ("GET", "HEAD"):
                raise RouteError(405, f"method {request.method} not allowed; use GET")
            return handler(self, request, parse_query(request.environ))
        except RouteError as e:
            return _error(request, e.code, e.message)
        except errors.PublicError as e:
            return _error(request, e.http_code, str(e))
        except Exception as e:  # noqa: BLE001 - answer JSON even for the unexpected
            if type(e).__module__.startswith("grpc"):
                logger.warning("callback_events: data server unavailable: %s", e)
                return _error(request, 503, "TensorBoard's data server is not answering; try again")
            logger.exception("callback_events: %s failed", request.path)
            return _error(request, 500, f"internal error ({type(e).__name__}); see TensorBoard's log")

    return app


class CallbackEventsPlugin(base_plugin.TBPlugin):
    """Serves callback events and the metrics to draw beside them.

    Args:
      context: TensorBoard's `TBContext`.
      static_dir: directory of the built frontend (the package's `static/`
        by default).
      read_logdir: read the callback events from `context.logdir`'s files
        rather than through the data provider (the loader asks for it on
        TensorBoard's Python loader, see `logdir_store`).

    Example:

    ```python
    plugin = CallbackEventsPlugin(base_plugin.TBContext(data_provider=provider))
    app = application.TensorBoardWSGI([plugin])
    ```
    """

    plugin_name = metadata.PLUGIN_NAME

    def __init__(
        self, context: base_plugin.TBContext, *, static_dir: str | None = None, read_logdir: bool = False
    ) -> None:
        self._provider = context.data_provider
        # Events from the logdir's files (see logdir_store) or through the data provider.
        self._store: EventStore | LogdirEventStore
        if read_logdir and context.logdir:
            self._store = LogdirEventStore(context.logdir)
            self._store.start_reading()
        else:
            self._store = EventStore(self._provider, downsample=sampling_limit(context.sampling_hints))
        self._scalars = ScalarStore(self._provider)
        self._run_list = RunNames(self._provider)
        self._static = static_files.StaticFiles(static_dir or static_files.DEFAULT_STATIC_DIR)
        # (experiment, tag, points, runs) -> (the series answered, the answer)
        self._many_answers: dict[tuple, tuple[tuple, str]] = {}

    def get_plugin_apps(self) -> dict[str, Callable]:
        return {
            "/runs": self._runs_route,
            "/events": self._events_route,
            "/tags": self._tags_route,
            "/scalars": self._scalars_route,
            "/many_events": self._many_events,
            "/many_scalars": self._many_scalars,
            "/hparams": self._hparams,
            "/static/*": self._static_route,
            "/static": self._static_route,
            # Anything else under our prefix: a JSON 404 rather than TensorBoard's text one.
            "/*": self._unknown_route,
        }

    def is_active(self) -> bool:
        # TensorBoard marks the plugin active when the data provider lists
        # records of ours, which is cheaper than anything done here.
        return False

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        return base_plugin.FrontendMetadata(es_module_path="/static/index.js", tab_name=metadata.TAB_NAME)

    # ------------------------------------------------------------ routes

    @_route
    def _runs_route(self, request: wrappers.Request, params: dict[str, list[str]]) -> wrappers.Response:
        with_digest = _flag(params, "digest")
        ctx, eid = _request_context(request)
        # Each run's `tags` answer too (`scalar_tags`): the tab needs them for
        # every run before it can ask for a series, and one listing here
        # saves it a request per run. The data server is slow to answer
        # either listing (~40 ms, not CPU), so both are asked at once.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            scalars = pool.submit(self._scalar_listing, ctx, eid, None)
            runs = self._store.runs(ctx, experiment_id=eid)
            listing = scalars.result()
        # Our store may find a run before TensorBoard lists it (logdir_store).
        all_runs = {*self._run_list.names(ctx, experiment_id=eid), *(r.run for r in runs)}
        groups = scalar_series.sibling_groups([r.run for r in runs], all_runs)
        entries = [
            _ENCODER.encode(
                {
                    "run": run.run,
                    "experiment": conventions.experiment_of(run.run),
                    "count": len(run.events),
                    "kinds": run.kinds,
                    "warnings": run.warnings,
                    "scalar_tags": _group_tags(run.run, groups[run.run], listing),
                }
            )
            for run in runs
        ]
        if with_digest:
            # A search's table drawn from the listing alone (run_digest.py).
            digests = [run_digest.digest_json(run) for run in runs]
            entries = [f'{entry[:-1]},"digest":{d}}}' for entry, d in zip(entries, digests, strict=True)]
        return _json(request, "".join(('{"runs":[', ",".join(entries), "]}")))

    @_route
    def _events_route(self, request: wrappers.Request, params: dict[str, list[str]]) -> wrappers.Response:
        run = one(params, "run")
        kinds = _kind_filter(params)
        ctx, eid = _request_context(request)
        found = self._store.run(ctx, experiment_id=eid, run=run)
        if found is None:
            self._check_run_exists(ctx, eid, run)
        return _json(request, _events_json(run, found, kinds))

    @_route
    def _many_events(self, request: wrappers.Request, params: dict[str, list[str]]) -> wrappers.Response:
        kinds = _kind_filter(params)
        runs = _run_filter(params)
        ctx, eid = _request_context(request)
        found = {r.run: r for r in self._store.runs(ctx, experiment_id=eid, only=runs)}
        for run in runs or ():
            if run not in found:
                self._check_run_exists(ctx, eid, run)
        names = sorted(found) if runs is None else sorted(set(runs))
        parts = [_events_json(run, found.get(run), kinds) for run in names]
        return _json(request, "".join(('{"runs":[', ",".join(parts), "]}")))

    @_route
    def _many_scalars(self, request: wrappers.Request, params: dict[str, list[str]]) -> wrappers.Response:
        tag = one(params, "tag")
        runs = _run_filter(params)
        points = MAX_POINTS
        if "points" in params:
            text = one(params, "points")
            if not text.isdigit() or not 2 <= int(text) <= MAX_POINTS:
                raise RouteError(400, f"points must be a whole number from 2 to {MAX_POINTS}")
            points = int(text)
        # `wall_time=0`: without wall times (a search's sparklines need none; a
        # third of the answer's bytes at 3,000 trials).
        with_wall_time = "wall_time" not in params or _flag(params, "wall_time")
        ctx, eid = _request_context(request)
        for run in runs or ():
            self._check_run_exists(ctx, eid, run)
        found = self._scalars.many(ctx, experiment_id=eid, tag=tag, runs=runs)
        # The same series as last time (kept objects): the same answer, not
        # thousands of reductions again (the tab asks on every reload).
        key = (eid, tag, points, with_wall_time, tuple(runs) if runs is not None else None)
        same = tuple(found[run] for run in sorted(found))
        kept = self._many_answers.get(key)
        if kept is not None and len(kept[0]) == len(same) and all(map(operator.is_, kept[0], same)):
            return _json(request, kept[1])
        series = []
        for run in sorted(found):
            data = found[run]
            reduced = scalar_series.reduced_series(
                data.steps, data.wall_times, data.values, max_points=points
            )
            if not with_wall_time:
                reduced["wall_time"] = None
            series.append({"run": run, **reduced})
        x = scalar_series.x_axis(tag)
        body = _ENCODER.encode({"tag": tag, "x": x, "series": series})
        if len(self._many_answers) >= 8:
            self._many_answers.clear()
        self._many_answers[key] = (same, body)
        return _json(request, body)

    @_route
    def _tags_route(self, request: wrappers.Request, params: dict[str, list[str]]) -> wrappers.Response:
        run = one(params, "run")
        ctx, eid = _request_context(request)
        self._check_run_exists(ctx, eid, run)
        group = self._run_list.siblings(ctx, experiment_id=eid, run=run)
        runs = _group_tags(run, group, self._scalar_listing(ctx, eid, group))
        return _json(request, _ENCODER.encode({"run": run, "runs": runs}))

    @_route
    def _scalars_route(self, request: wrappers.Request, params: dict[str, list[str]]) -> wrappers.Response:
        run = one(params, "run")
        tag = one(params, "tag")
        ctx, eid = _request_context(request)
        all_runs = self._check_run_exists(ctx, eid, run)
        series = self._scalars.series(ctx, experiment_id=eid, run=run, tag=tag, all_runs=all_runs)
        if series is None:
            raise RouteError(404, f"run {run!r} has no scalar tag {tag!r}")
        x = scalar_series.x_axis(tag)
        epoch_records = None
        if x == "epoch":
            group = self._run_list.siblings(ctx, experiment_id=eid, run=run)
            epoch_records = self._store.epoch_records(ctx, experiment_id=eid, runs=group)
        reduced = scalar_series.reduced_series(
            series.steps, series.wall_times, series.values, epoch_records=epoch_records
        )
        body = {"run": run, "tag": tag, "x": x, **reduced}
        return _json(request, _ENCODER.encode(body))

    @_route
    def _hparams(self, request: wrappers.Request, params: dict[str, list[str]]) -> wrappers.Response:
        ctx, eid = _request_context(request)
        found = hparams_listing.experiment_hparams(self._provider, ctx, experiment_id=eid)
        return _json(request, _ENCODER.encode({"experiments": found}))

    @wrappers.Request.application  # type: ignore[arg-type]  # as in _route
    def _static_route(self, request: wrappers.Request) -> wrappers.Response:
        prefix = f"/data/plugin/{metadata.PLUGIN_NAME}/static/"
        path = request.path
        subpath = path[path.find(prefix) + len(prefix) :] if prefix in path else ""
        if request.method not in ("GET", "HEAD"):
            return _error(request, 405, f"method {request.method} not allowed; use GET")
        try:
            return self._static.respond(request, subpath)
        except static_files.NotFound:
            return _error(request, 404, f"no static file {subpath[:200]!r}")

    @wrappers.Request.application  # type: ignore[arg-type]  # as in _route
    def _unknown_route(self, request: wrappers.Request) -> wrappers.Response:
        return _error(request, 404, f"no route {request.path[:200]!r}")

    # ------------------------------------------------------------ helpers

    def _scalar_listing(self, ctx: Any, eid: str, runs: list[str] | None) -> Mapping[str, Mapping[str, Any]]:
        return self._provider.list_scalars(
            ctx,
            experiment_id=eid,
            plugin_name=scalar_metadata.PLUGIN_NAME,
            run_tag_filter=provider.RunTagFilter(runs=runs) if runs is not None else None,
        )

    def _check_run_exists(self, ctx: Any, eid: str, run: str) -> list[str]:
        """All run names, sorted; raises a 404 when `run` is not among them."""
        names = self._run_list.names(ctx, experiment_id=eid, including=run)
        if run not in names:
            raise RouteError(404, f"unknown run {run!r}")
        return names


def _kind_filter(params: dict[str, list[str]]) -> list[str]:
    kinds = params.get("kind", [])
    if len(kinds) > MAX_KIND_FILTERS:
        raise RouteError(400, f"more than {MAX_KIND_FILTERS} kind filters")
    for kind in kinds:
        if not event_format.KIND_PATTERN.fullmatch(kind):
            raise RouteError(400, f"kind {kind[:80]!r} is not a kind name ([a-z0-9_.-]{{1,64}})")
    return kinds


def _flag(params: dict[str, list[str]], name: str) -> bool:
    """An optional switch given as `name=1` (on) or `name=0` (off, as when absent)."""
    if name not in params:
        return False
    value = one(params, name)
    if value not in ("0", "1"):
        raise RouteError(400, f"parameter {name!r} must be 0 or 1")
    return value == "1"


def _run_filter(params: dict[str, list[str]]) -> list[str] | None:
    """The `run` parameters (none: every run); each must be non-empty."""
    runs = params.get("run")
    if runs is None:
        return None
    if not all(runs):
        raise RouteError(400, "parameter 'run' is empty")
    return runs


def _events_json(run: str, found: RunEvents | None, kinds: list[str]) -> str:
    """The `events` answer of one run, joined from its events' ready JSON."""
    events, warnings = (found.events, found.warnings) if found is not None else ([], [])
    if kinds:
        wanted = frozenset(kinds)
        events = [e for e in events if e.kind in wanted]
    head = _ENCODER.encode({"run": run, "warnings": warnings})[:-1]
    return "".join((head, ',"events":[', ",".join([e.json for e in events]), "]}"))


def _group_tags(run: str, group: list[str], listing: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """The metric tags of `run` (always, maybe []) and of its siblings that have any.

    A fit's outcome scalars (`conventions.is_outcome_tag`) are one point each, not curves to chart.
    """
    tags = {
        name: sorted(t for t in listing.get(name, {}) if not conventions.is_outcome_tag(t)) for name in group
    }
    return {name: names for name, names in tags.items() if name == run or names}


def _request_context(request: wrappers.Request) -> tuple[Any, str]:
    return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)
