"""The HTTP server's protocol: uvicorn's httptools protocol with a bound on a request's head.

httptools keeps a header's bytes until the header ends, and uvicorn sets no limit, so one request with a
64 MB header could take that much memory (and stall the loop) before anything checked who sent it. Here
the bytes of a request's head (request line and headers) are counted twice: as they arrive, read by read (a
head still incomplete past `MAX_HEAD_BYTES`), and as the parser hands over the URL and each header (a whole
head that came in one read, with or without its body). Past the limit the connection gets `431` in the OpenAI
or Anthropic error shape and is closed; the request is not handed to the app. At most one network read (256
KiB) more than the limit is ever held. Bodies are bounded later, while they are read (`max_request_bytes`,
413).
"""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.errors import HeadersTooLarge
from gateway.rendering import anthropic_body, openai_body

MAX_HEAD_BYTES = 64 * 1024


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0  # read while the head was incomplete
        self._parsed_bytes = 0  # the URL and headers the parser handed over
        self._refused = False

    def data_received(self, data: bytes) -> None:
        counting = self._in_head
        super().data_received(data)
        if counting and self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES and not self._refused:
                self._refuse()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes, self._parsed_bytes = True, 0, 0

    def _parsed(self, size: int) -> None:
        self._parsed_bytes += size
        if self._parsed_bytes > MAX_HEAD_BYTES and not self._refused:
            self._refuse()

    def on_url(self, url: bytes) -> None:
        self._parsed(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        if not self._refused:  # a refused request never reaches the app
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def _refuse(self) -> None:
        self._refused = True
        if self.transport.is_closing():
            return
        message = f"request headers larger than {MAX_HEAD_BYTES} bytes"
        error = HeadersTooLarge(message)
        body = anthropic_body(error) if self.url.startswith(b"/v1/messages") else openai_body(error)
        raw = json.dumps(body).encode()
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(raw)).encode() + b"\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head + raw)
        self.transport.close()
