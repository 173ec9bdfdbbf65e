"""Server-sent events in the shape the Messages API streams them.

`message_events(message)` turns a complete Message (a JSON-ready dict, as a
non-streamed reply would carry it) into the event sequence the API sends when
`"stream": true`: message_start, then per content block content_block_start /
content_block_delta (text_delta or input_json_delta) / content_block_stop, then
message_delta (stop_reason and cumulative usage) and message_stop.
`encode_event` writes one event in the wire format the SDK's decoder reads.

Used by the scripted provider (in-process) and by the loopback test server.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

Event = tuple[str, dict[str, Any]]


def encode_event(event_type: str, data: dict[str, Any]) -> bytes:
    """One SSE frame: `event: <type>` and a single-line JSON `data:` field."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event_type}\ndata: {payload}\n\n".encode()


def split_text(text: str, size: int = 12) -> list[str]:
    """Cut text into small chunks on word boundaries where possible (never loses a char)."""
    if not text:
        return []
    chunks: list[str] = []
    current = ""
    for piece in _words_with_spaces(text):
        if current and len(current) + len(piece) > size:
            chunks.append(current)
            current = ""
        current += piece
    if current:
        chunks.append(current)
    return chunks


def _words_with_spaces(text: str) -> Iterator[str]:
    start = 0
    for i, ch in enumerate(text):
        if ch.isspace() and i + 1 < len(text) and not text[i + 1].isspace():
            yield text[start : i + 1]
            start = i + 1
    yield text[start:]


def split_json(raw: str, size: int = 24) -> list[str]:
    """Cut a JSON document into fixed-size partial strings, as input_json_delta carries it."""
    return [raw[i : i + size] for i in range(0, len(raw), size)] or [""]


def message_events(
    message: dict[str, Any], *, text_chunk: int = 12, json_chunk: int = 24
) -> list[Event]:
    """The full event sequence for one complete Message dict."""
    usage = dict(message.get("usage") or {})
    start = copy.deepcopy(message)
    start["content"] = []
    start["stop_reason"] = None
    start["stop_sequence"] = None
    start_usage = dict(usage)
    start_usage["output_tokens"] = min(1, int(usage.get("output_tokens") or 0))
    start["usage"] = start_usage

    events: list[Event] = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message.get("content") or []):
        btype = block.get("type")
        if btype == "text":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            for chunk in split_text(block.get("text", ""), text_chunk):
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": chunk},
                        },
                    )
                )
        elif btype == "tool_use":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": block["id"],
                            "name": block["name"],
                            "input": {},
                        },
                    },
                )
            )
            raw = json.dumps(block.get("input") or {}, ensure_ascii=False)
            for chunk in split_json(raw, json_chunk):
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": chunk},
                        },
                    )
                )
        elif btype == "thinking":  # as the API streams it: text deltas, then the signature
            events.append(("content_block_start", {
                "type": "content_block_start", "index": index,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""}}))
            for chunk in split_text(block.get("thinking", ""), text_chunk):
                events.append(("content_block_delta", {
                    "type": "content_block_delta", "index": index,
                    "delta": {"type": "thinking_delta", "thinking": chunk}}))
            events.append(("content_block_delta", {
                "type": "content_block_delta", "index": index,
                "delta": {"type": "signature_delta", "signature": block.get("signature", "")}}))
        else:  # any other block is sent whole at start (no deltas)
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": block},
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))

    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": message.get("stop_reason"),
                    "stop_sequence": message.get("stop_sequence"),
                },
                "usage": usage,
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def encode_message_stream(message: dict[str, Any]) -> bytes:
    """The whole stream for one message as a single byte string."""
    return b"".join(encode_event(t, d) for t, d in message_events(message))


def error_event(error_type: str, message: str) -> bytes:
    """An in-stream `error` event (e.g. overloaded_error after the stream began)."""
    return encode_event(
        "error", {"type": "error", "error": {"type": error_type, "message": message}}
    )
