"""The benchmark's job written idiomatically with Quix Streams: a StreamingDataFrame that calls the model
server in apply() (a blocking requests.Session: Quix processes one message at a time per process) and
sends the answer to the answer topic. Scale-out is one process per partition in one consumer group.

Run by bench/peers.py in the peers venv (bench/requirements-peers.txt); arguments through PEER_* env.
"""

from __future__ import annotations

import os

import requests
from quixstreams import Application

BOOTSTRAP = os.environ["PEER_BOOTSTRAP"]
OLLAMA = os.environ["PEER_OLLAMA"]
MODEL = os.environ["PEER_MODEL"]

session = requests.Session()


def generate(request: dict, key: str, timestamp: int, headers: object) -> dict:
    try:
        resp = session.post(f"{OLLAMA}/api/generate",
                            json={"model": MODEL, "prompt": request["prompt"], "stream": False}, timeout=240)
        resp.raise_for_status()
        reply = resp.json()
        return {"status": "ok", "request_id": key, "response": reply["response"], "model": reply.get("model")}
    except Exception as exc:  # noqa: BLE001 - the answer says what failed, as the service's would
        return {"status": "error", "request_id": key, "error": {"message": str(exc)}}


def main() -> None:
    app = Application(broker_address=BOOTSTRAP, consumer_group=os.environ["PEER_GROUP"],
                      auto_offset_reset="earliest", auto_create_topics=False, loglevel="WARNING")
    source = app.topic(os.environ["PEER_REQUEST_TOPIC"], key_deserializer="str", value_deserializer="json")
    answers = app.topic(os.environ["PEER_ANSWER_TOPIC"], key_serializer="str", value_serializer="json")
    sdf = app.dataframe(source)
    sdf = sdf.apply(generate, metadata=True)
    sdf.to_topic(answers)
    app.run()


if __name__ == "__main__":
    main()
