"""The benchmark's job written idiomatically with Faust-streaming: one agent with `concurrency` instances,
each calling the model server (aiohttp, the client Faust itself runs on) and sending the answer.

Run by bench/peers.py in the peers venv (bench/requirements-peers.txt):
  python bench/peer_apps/faust_job.py worker --without-web -l warn   (arguments through PEER_* env)
"""

from __future__ import annotations

import json
import os

import aiohttp
import faust

BOOTSTRAP = os.environ["PEER_BOOTSTRAP"]
REQUESTS = os.environ["PEER_REQUEST_TOPIC"]
ANSWERS = os.environ["PEER_ANSWER_TOPIC"]
GROUP = os.environ["PEER_GROUP"]
OLLAMA = os.environ["PEER_OLLAMA"]
MODEL = os.environ["PEER_MODEL"]
CONCURRENCY = int(os.environ["PEER_CONCURRENCY"])
# stream:false is the idiomatic call; PEER_STREAM=1 streams the tokens as the service does (it needs them to
# tell a stalled generation from a slow one), to show what streaming itself costs.
STREAM = os.environ.get("PEER_STREAM") == "1"

app = faust.App(GROUP, broker=f"kafka://{BOOTSTRAP}", value_serializer="raw", key_serializer="raw",
                consumer_auto_offset_reset="earliest", web_enabled=False, topic_disable_leader=True,
                store="memory://", producer_acks=-1)
requests_topic = app.topic(REQUESTS, value_type=bytes, key_type=bytes)
answers_topic = app.topic(ANSWERS, value_type=bytes, key_type=bytes)
session: aiohttp.ClientSession | None = None


async def generate(prompt: str) -> dict:
    global session
    if session is None:
        session = aiohttp.ClientSession()
    body = {"model": MODEL, "prompt": prompt, "stream": STREAM}
    async with session.post(f"{OLLAMA}/api/generate", json=body) as resp:
        resp.raise_for_status()
        if not STREAM:
            return await resp.json()
        parts = []
        async for line in resp.content:
            if line.strip():
                chunk = json.loads(line)
                parts.append(chunk.get("response", ""))
                if chunk.get("done"):
                    return {**chunk, "response": "".join(parts)}
        raise RuntimeError("stream ended without a final chunk")


@app.agent(requests_topic, concurrency=CONCURRENCY)
async def answer(stream):
    async for event in stream.events():
        key = event.key
        try:
            request = json.loads(event.value)
            reply = await generate(request["prompt"])
            value = {"status": "ok", "request_id": key.decode(), "response": reply["response"],
                     "model": reply.get("model")}
        except Exception as exc:  # noqa: BLE001 - the answer says what failed, as the service's would
            value = {"status": "error", "request_id": (key or b"").decode(), "error": {"message": str(exc)}}
        await answers_topic.send(key=key, value=json.dumps(value).encode())


if __name__ == "__main__":
    app.main()
