"""What every test file shares: the quick tier, and how the suite splits over two workers.

The quick tier (`scripts/test.sh --quick`, which is `pytest -m quick`) is the
edit loop's suite: the fast files whole, and of the slow ones the one test
that still goes through each part for real (a fit, a TensorBoard on each
loader, a browser page). The list is here, not in the test files, so that a
test file keeps saying only what it tests.

Two workers (pytest-xdist's `-n 2 --dist loadfile`, as scripts/test.sh runs
the suite): a test file is one unit of work, kept on one worker so that its
module-scoped fixtures (a fit, a TensorBoard, a browser) are made once. The
long pytest subprocesses of tests/test_backends.py and tests/test_keras_own.py
(a Keras set-up each) are units of their own, so that both workers share
them. Units start longest first (UNIT_SECONDS), so that what ends the run is
a short one.
"""

from __future__ import annotations

import json
import os
import resource
import time

import pytest

# Node-id prefixes of the quick tier.
QUICK = (
    # The type and lint checks, the layers and naming rules.
    "tests/test_lint.py::",
    "tests/test_types.py::",
    "tests/test_layers.py::",
    "tests/test_conventions.py::",
    "tests/test_needs.py::",
    # The event format, the reader, the plugin's routes, the CLI's formats
    # (no fit, no server: seconds).
    "tests/test_event_format.py::",
    "tests/test_plugin_unit.py::",
    "tests/test_plugin_downsample.py::",
    "tests/test_plugin_stores.py::",
    "tests/test_plugin_logdirs.py::",
    "tests/test_reader_fuzz.py::",
    "tests/test_cli_formatting.py::",
    # The CLI, export, report and scalar reader on hand-written logdirs.
    "tests/test_cli.py::test_events_golden",
    "tests/test_cli.py::test_summary_golden_and_content",
    "tests/test_cli.py::test_plot_draws_curves_and_markers",
    "tests/test_export.py::test_nothing_to_export_and_bad_output",
    "tests/test_export.py::test_fit_column_tells_repeated_fits_apart",
    "tests/test_report.py::test_damaged_records_are_told_on_the_page_as_the_tab_tells_them",
    "tests/test_scalar_frame.py::test_rows_sorted_by_run_tag_step_keeping_file_order",
    "tests/test_sweeps_cli.py::test_top_and_sort",
    # One real fit through callbacks.TensorBoard, read back.
    "tests/test_callbacks_events.py::test_custom_scheduler_and_stopper",
    # One real TensorBoard on each loader (one module fixture, two params).
    "tests/test_plugin_integration.py::test_every_event_is_served_with_no_flag_from_the_user[",
    # One browser page of the tab in that TensorBoard.
    "tests/test_frontend.py::test_empty_logdir_says_how_to_start",
)

# Subprocess runs that are units of work of their own (each is minutes).
OWN_UNIT = ("tests/test_backends.py::", "tests/test_keras_own.py::")
# Parametrized tests that read one subprocess run (a module fixture): one
# unit for all their parameters, so that the run is made once.
ONE_RUN = ("tests/test_keras_own.py::test_keras_callback_tests_pass_with_our_drop_ins_on_tensorflow[",)

# A unit's wall time in seconds, measured in a whole run (on a loaded
# machine: docs/architecture.md, "Testing"). Only the order matters, longest
# first; a unit not listed counts as short.
_OWN = "tests/test_keras_own.py::test_keras_callback_tests_pass_with_our_drop_ins_on_"
_BACKENDS = "tests/test_backends.py::test_event_tests_pass"
UNIT_SECONDS: dict[str, float] = {
    # Measured 2026-12-05 with --cpu-log in a whole run on two workers (load
    # average 3 to 14); units under 15 s are left out.
    "tests/test_sweeps_ray.py": 436,
    "tests/test_plugin_integration.py": 193,  # scaled by its CPU after/before tensorflow=False
    "tests/test_frontend_stories.py": 292,  # scaled by its CPU after/before tensorflow=False
    "tests/test_restart.py": 210,  # scaled: the shared TensorBoards instead of two of its own
    # Both warning settings in one subprocess (tests/test_keras_own.py): the
    # 264 + 184 of the two runs before, scaled by their CPU measured with
    # -n 0 on 2026-12-05 (141 CPU-s before, 111 after, load 8 to 11).
    f"{_OWN}tensorflow": 353,
    "tests/test_frontend.py": 109,  # scaled by its CPU after/before tensorflow=False
    f"{_BACKENDS}[jax]": 176,
    "tests/test_sweeps_hparams_dashboard.py": 34,  # scaled by its CPU after/before tensorflow=False
    "tests/test_faults.py": 159,
    "tests/test_demo_script.py": 149,
    f"{_BACKENDS}[floor]": 130,
    "tests/test_sweeps_keras_tuner.py": 127,
    "tests/test_report.py": 73,
    "tests/test_callbacks_tensorboard.py": 67,
    "tests/test_frontend_search.py": 28,  # scaled by its CPU after/before tensorflow=False
    f"{_OWN}jax": 55,  # in .venvs/tf-jax: 64 CPU-s before in .venv, 56 after (-n 0)
    "tests/test_packaging.py": 52,
    f"{_BACKENDS}[floor-tf-keras]": 51,
    "tests/test_lr_line.py": 27,  # scaled by its CPU after/before tensorflow=False
    "tests/test_plugin_fuzz.py": 20,  # scaled by its CPU after/before tensorflow=False
    "tests/test_remote.py": 43,
    "tests/test_frontend_notes.py": 24,  # scaled by its CPU after/before tensorflow=False
    f"{_BACKENDS}[tf-keras]": 41,
    "tests/test_live.py": 33,
    "tests/test_multiworker.py": 31,
    "tests/test_callbacks_events.py": 31,
    "tests/test_layers.py": 28,
    "tests/test_sweeps_optuna.py": 26,
    f"{_BACKENDS}[torch]": 25,
    "tests/test_keras_parity.py": 24,
    "tests/test_callbacks_jax.py": 21,
    "tests/test_symlinks.py": 16,  # scaled by its CPU after/before tensorflow=False
    "tests/test_demo.py": 18,
}


@pytest.fixture(scope="session")
def shared_tensorboards(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """One TensorBoard per loader for this worker, over one root logdir that
    test files publish their logdirs under (tests/tb_server.py): starting one
    costs 14-15 s of CPU, and most files need no flags of their own."""
    from tests.tb_server import SharedTensorBoards

    shared = SharedTensorBoards(tmp_path_factory.mktemp("shared_logdir"))
    yield shared
    shared.stop()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cpu-log",
        metavar="PATH",
        help="append each unit of work's CPU seconds (this process and the subprocesses it "
        "waited for: TensorBoard, training children, pytest runs) and wall seconds to PATH, "
        "a JSON line each: what a run costs, readable on a loaded machine",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "quick: the quick tier (scripts/test.sh --quick)")
    # The scheduler below keeps the order of collection.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def unit(nodeid: str) -> str:
    """The unit of work a test belongs to: its file, or itself for a long subprocess run."""
    if nodeid.startswith(ONE_RUN):
        return nodeid.split("[", 1)[0]
    return nodeid if nodeid.startswith(OWN_UNIT) else nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(QUICK):
            item.add_marker(pytest.mark.quick)
    # Stable: within a unit the file's own order stays.
    items.sort(key=lambda item: -UNIT_SECONDS.get(unit(item.nodeid), 0.0))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """`--dist loadfile`, but with the long subprocess runs as units of their own."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class UnitScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit(nodeid)

    return UnitScheduling(config, log)


class _CpuLog:
    """--cpu-log: the CPU time of each unit of work, from getrusage.

    A unit's subprocesses count once they are reaped, which its fixtures'
    teardown does before the next unit starts; a unit's time includes its
    module fixtures' set-up and teardown."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.unit: str | None = None
        self.start = (0.0, 0.0, 0.0)

    @staticmethod
    def _now() -> tuple[float, float, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime, time.monotonic()

    def begin(self, name: str) -> None:
        if name != self.unit:
            self.end()
            self.unit, self.start = name, self._now()

    def end(self) -> None:
        if self.unit is None:
            return
        now = self._now()
        record = {
            "unit": self.unit,
            "cpu": round(now[0] - self.start[0], 2),
            "children_cpu": round(now[1] - self.start[1], 2),
            "wall": round(now[2] - self.start[2], 2),
            "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
            "load": round(os.getloadavg()[0], 2),
        }
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        self.unit = None


_cpu_log: _CpuLog | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    global _cpu_log
    path = item.config.getoption("--cpu-log")
    if path:
        _cpu_log = _cpu_log or _CpuLog(os.path.abspath(path))
        _cpu_log.begin(unit(item.nodeid))


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _cpu_log is not None:
        _cpu_log.end()
