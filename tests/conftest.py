import os

# Before anything imports onnxruntime (through the package): no telemetry, no ~/.cache writes.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import pytest

pytest_plugins = ["testkit.pytest_broker", "testkit.pytest_ollama"]


@pytest.fixture
def standin():
    """The Ollama stand-in (a real HTTP server on loopback) serving the default vision model."""
    from testkit.fakes.ollama_server import OllamaStandIn

    with OllamaStandIn(models=("llava:7b",)) as server:
        yield server


# Tests are marked by what they need (pytest.ini `markers`; `make test-fast` deselects them and `slow`). Besides
# each module's own `pytestmark`, a test is marked when it uses a fixture that brings up a real part, or when
# its module imports one (the broker and real-Ollama fixtures mark their tests in their own plugins).
_MARK_BY_FIXTURE = {"standin": "ollama", "ollama_build": "ollama", "rapid_engine": "ocr", "ocr_results": "ocr"}
# Slow without any real part: external checkers run over the manifests, property-based searches, and scoring
# the rendered photo set. Marked by where they live, so `make test-fast` stays seconds long.
_SLOW_PATHS = ("tests/deploy/", "tests/unit/test_fuzz.py", "tests/unit/test_photoset_scores.py",
               "tests/unit/kafka/test_transaction_hang.py")
_MARK_BY_MODULE_NAME = {"OllamaStandIn": "ollama", "LocalOllama": "ollama", "RapidOcrEngine": "ocr",
                        "shared_rapid_engine": "ocr", "InProcessService": "broker", "ProcessorProcess": "broker",
                        "FaultRun": "broker"}


def pytest_collection_modifyitems(items):
    for item in items:
        marks = {_MARK_BY_FIXTURE[f] for f in _MARK_BY_FIXTURE.keys() & set(getattr(item, "fixturenames", ()))}
        module = getattr(item, "module", None)
        if module is not None:
            marks |= {mark for name, mark in _MARK_BY_MODULE_NAME.items() if name in vars(module)}
        if str(item.path.relative_to(item.config.rootpath)).startswith(_SLOW_PATHS):
            marks.add("slow")
        for mark in sorted(marks):
            item.add_marker(mark)


def pytest_sessionfinish(session, exitstatus):
    """A skipped test is a failure of the setup, not a pass: fail the run if anything was skipped."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and exitstatus == 0:
        reporter.write_line(f"{len(skipped)} test(s) skipped: a missing part is a setup failure", red=True)
        session.exitstatus = 1
