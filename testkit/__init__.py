"""Test kit shared by tests/ and bench/: the local Kafka broker, the model stand-ins and the harnesses.

tests/ and bench/ both import from here and never from each other.
"""
