"""The local Ollama: build the pinned release once into the user cache (build.py) and run servers of it
with the tiny model (server.py). `python -m testkit.local_ollama --help` for the commands; the Python
wrapper for tests and benchmarks is testkit/ollama_local.py. See docs/local-ollama.md.

Standard library only: `make ollama-local` and `make run` can run it before the virtualenv has the
project's dependencies."""
