"""Fault-injection harness: the processor as a child process on a real broker and the Ollama stand-in,
a known set of request ids, one fault per run, and an account of every id at the end (testkit/faults/);
run.py runs every fault in both guarantees (long, not in CI); tests/integration/test_faults.py has the
short CI versions."""
