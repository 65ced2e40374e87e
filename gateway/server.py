"""The HTTP server's protocol: uvicorn's httptools protocol with a bound on a request's head.

httptools keeps a header's bytes until the header ends, and uvicorn sets no limit, so one request with a
64 MB header could take that much memory (and stall the loop) before anything checked who sent it. Here
the bytes of a request's head (request line and headers) are counted as they arrive; past
`MAX_HEAD_BYTES` the connection gets `431` in the OpenAI or Anthropic error shape and is closed. At most one
network read (256 KiB) more than the limit is ever held. Bodies are bounded later, while they are read
(`max_request_bytes`, 413).
"""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        counting = self._in_head
        super().data_received(data)
        if counting and self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
                self._refuse()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def _refuse(self) -> None:
        message = f"request headers larger than {MAX_HEAD_BYTES} bytes"
        anthropic = self.url.startswith(b"/v1/messages")
        body = (
            {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
            if anthropic
            else {
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "headers_too_large",
                }
            }
        )
        raw = json.dumps(body).encode()
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(raw)).encode() + b"\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head + raw)
        self.transport.close()
