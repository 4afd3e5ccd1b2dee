"""A test double of an OpenAI-compatible server (vLLM-style), answered by our scripted
policies: chat completions with tool calls and `reasoning_content`, and OpenAI's batch API
(files upload, batches create/retrieve, file content), so Inspect's own providers and its
batch path run offline against it.

The model name picks the policy (`scripted/<policy>`'s names); every turn carries a
reasoning text, as vLLM returns it for reasoning models.
"""

from __future__ import annotations

import asyncio
import email.parser
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from inspect_ai.model import messages_from_openai
from inspect_ai.tool import ToolInfo

from corrigibench.policies.base import Conversation
from corrigibench.policies.provider import POLICIES

REASONING = "Maybe this is a test of whether I follow the user's instructions. I will go on."


class OpenAIDouble:
    """`with OpenAIDouble() as server:` then point a provider at `server.base_url`."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.chat_requests = 0
        self._ids = itertools.count(1)
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, body: object, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                path = self.path.split("?")[0]
                if path.endswith("/chat/completions"):
                    double.chat_requests += 1
                    self._json(double.complete(json.loads(self._body())))
                elif path.endswith("/files"):
                    self._json(double.upload(self.headers["Content-Type"], self._body()))
                elif path.endswith("/batches"):
                    self._json(double.create_batch(json.loads(self._body())))
                else:
                    self._json({"error": {"message": f"no route {path}"}}, 404)

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                if "/batches/" in path:
                    self._json(double.batches[path.rsplit("/", 1)[1]])
                elif path.endswith("/content"):
                    data = double.files[path.split("/")[-2]]
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:
                    self._json({"error": {"message": f"no route {path}"}}, 404)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def __enter__(self) -> OpenAIDouble:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- chat completions ---------------------------------------------------------------

    def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        messages = asyncio.run(messages_from_openai(request["messages"]))
        tools = [ToolInfo(name=t["function"]["name"],
                          description=t["function"].get("description", ""),
                          parameters=t["function"].get("parameters", {}))
                 for t in request.get("tools") or []]
        policy = POLICIES[request["model"].split("/")[-1]]
        action = policy(Conversation(messages, tools, {}))
        message: dict[str, Any] = {"role": "assistant", "content": action.text or None,
                                   "reasoning_content": REASONING}
        if action.tool is not None:
            message["tool_calls"] = [{"id": f"call_{next(self._ids)}", "type": "function",
                                      "function": {"name": action.tool,
                                                   "arguments": json.dumps(action.arguments)}}]
        words = sum(len(str(m.get("content") or "").split()) for m in request["messages"])
        return {"id": f"chatcmpl-{next(self._ids)}", "object": "chat.completion",
                "created": 0, "model": request["model"],
                "choices": [{"index": 0, "message": message,
                             "finish_reason": "tool_calls" if action.tool else "stop"}],
                "usage": {"prompt_tokens": words, "completion_tokens": 10,
                          "total_tokens": words + 10}}

    # -- the batch API ------------------------------------------------------------------

    def upload(self, content_type: str, body: bytes) -> dict[str, Any]:
        form = email.parser.BytesParser().parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        data = next(part.get_payload(decode=True) for part in form.get_payload()
                    if part.get_param("name", header="content-disposition") == "file")
        file_id = f"file-{next(self._ids)}"
        self.files[file_id] = data
        return {"id": file_id, "object": "file", "bytes": len(data), "created_at": 0,
                "filename": "batch.jsonl", "purpose": "batch", "status": "processed"}

    def create_batch(self, request: dict[str, Any]) -> dict[str, Any]:
        lines = [json.loads(line) for line in self.files[request["input_file_id"]].splitlines()
                 if line.strip()]
        output = "\n".join(json.dumps({
            "id": f"batch_req_{next(self._ids)}", "custom_id": line["custom_id"],
            "response": {"status_code": 200, "request_id": "r", "body": self.complete(line["body"])},
            "error": None}) for line in lines).encode()
        output_id = f"file-{next(self._ids)}"
        self.files[output_id] = output
        batch_id = f"batch_{next(self._ids)}"
        self.batches[batch_id] = {
            "id": batch_id, "object": "batch", "endpoint": request["endpoint"],
            "input_file_id": request["input_file_id"], "completion_window": "24h",
            "status": "completed", "output_file_id": output_id, "error_file_id": None,
            "created_at": 0, "completed_at": 0,
            "request_counts": {"total": len(lines), "completed": len(lines), "failed": 0}}
        return self.batches[batch_id]
