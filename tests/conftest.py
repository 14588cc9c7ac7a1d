import os

# Before anything imports onnxruntime (through the package): no telemetry, no ~/.cache writes.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

pytest_plugins = ["tests.broker_fixture"]
