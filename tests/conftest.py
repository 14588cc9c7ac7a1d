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


# Fixtures that bring up a real part: a test using one is marked by what it needs (pytest.ini `markers`);
# the broker and real-Ollama fixtures mark their tests in their own plugins.
_MARK_BY_FIXTURE = {"standin": "ollama", "rapid_engine": "ocr", "ocr_results": "ocr"}


def pytest_collection_modifyitems(items):
    for item in items:
        for fixture in _MARK_BY_FIXTURE.keys() & set(getattr(item, "fixturenames", ())):
            item.add_marker(_MARK_BY_FIXTURE[fixture])


def pytest_sessionfinish(session, exitstatus):
    """A skipped test is a failure of the setup, not a pass: fail the run if anything was skipped."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and exitstatus == 0:
        reporter.write_line(f"{len(skipped)} test(s) skipped: a missing part is a setup failure", red=True)
        session.exitstatus = 1
