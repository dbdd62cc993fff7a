"""How much a candidate's request may carry: the bounds every save, flag and event is held to before any
work is done for it (issue 13: a 1 MB message or answer must be refused with a reason, not stored, and
must not cost the server more than reading it)."""

from __future__ import annotations

from typing import Any

# A Socket.IO event's payload, in characters of its JSON (an essay's 5000 characters fit several times over).
MAX_PAYLOAD_CHARS = 64 * 1024
# The body of an HTTP fallback call, in bytes (its JSON may escape every Chinese character as \uXXXX).
MAX_HTTP_BODY_BYTES = 256 * 1024
# Any answer, whatever its item type, before the type's own limit is looked up (item_bank ItemType.value_limit).
MAX_VALUE_CHARS = 20_000
# What engine.io itself accepts in one message: above MAX_PAYLOAD_CHARS so that an oversized event is
# still read and refused with an acknowledgement; a larger message closes the connection unread.
MAX_SOCKET_MESSAGE_BYTES = 2 * 1024 * 1024


def size_of(obj: Any, limit: int) -> int:
    """About the length of `obj` as JSON; stops counting once it passes `limit` (so a huge payload costs
    no more than `limit` to measure) and never recurses (a deeply nested one cannot exhaust the stack)."""
    total = 0
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += 2
            for key, value in item.items():
                total += len(key) + 4 if isinstance(key, str) else 8
                stack.append(value)
                if total > limit:
                    return total
        elif isinstance(item, list | tuple):
            total += 2 + len(item)
            if total > limit:
                return total
            stack.extend(item)
        else:
            total += 8
        if total > limit:
            return total
    return total


def text_chars(value: Any) -> int:
    """The characters an answer holds: a text's length, or the sum over a list of texts (fill-in blanks)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(len(v) for v in value if isinstance(v, str))
    return 0


# The largest id any database column holds (SQLite's INTEGER); a larger number overflows the driver.
MAX_ID = 2**63 - 1


def is_id(value: Any) -> bool:
    """A database id as a client may send it: a positive int that fits a column, not a bool (True is 1)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID
