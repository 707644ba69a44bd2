"""``POST /api/v1/ask`` against a real OpenAI-compatible chat server on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import LoopbackHTTPServer, QuietHandler, write_tree
from serverproc import ServerProcess

pytestmark = pytest.mark.timeout(120)


class ChatServer:
    """Answers /v1/chat/completions with a scripted status and records the requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.lock = threading.Lock()
        owner = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.read_json()
                with owner.lock:
                    owner.requests.append({"path": self.path, "body": body,
                                           "auth": self.headers.get("Authorization")})
                    status = owner.status
                payload: dict[str, Any] = {"model": body["model"], "choices": [
                    {"index": 0, "message": {"role": "assistant",
                                             "content": "Tax is applied in apply_tax [1]."}}]}
                self.send_json(status, payload if status == 200 else {"error": "boom"})

        self.http = LoopbackHTTPServer(Handler)


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    server = ChatServer()
    yield server
    server.http.close()


def test_ask_retrieves_code_and_asks_the_model(tmp_path: Path, chat: ChatServer) -> None:
    repo = write_tree(tmp_path / "shop", {
        "pricing.py": "def apply_tax(amount):\n    \"\"\"Add the sales tax.\"\"\"\n"
                      "    return amount * 1.2\n",
        "cart.py": "def count(items):\n    return len(items)\n"})
    with ServerProcess(tmp_path, [repo], OPENAI_API_KEY="sk-test", OPENAI_MODEL="chat-1",
                       OPENAI_BASE_URL=chat.http.base_url) as proc:
        r = proc.client.post("/api/v1/ask", json={"question": "where is the sales tax added?"})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["answer"] == "Tax is applied in apply_tax [1]."
        assert out["model"] == "chat-1"
        assert out["sources"][0]["qualified_name"] == "pricing.apply_tax"
        [sent] = chat.requests
        assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-test"
        prompt = sent["body"]["messages"][-1]["content"]
        assert "return amount * 1.2" in prompt and "where is the sales tax added?" in prompt
        chat.status = 500
        r = proc.client.post("/api/v1/ask", json={"question": "tax?"})
        assert r.status_code == 502 and r.json()["error"]["code"] == "model_error"
        r = proc.client.post("/api/v1/ask", json={})
        assert r.status_code == 400 and "question" in r.json()["error"]["message"]
