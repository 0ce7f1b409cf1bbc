"""JSON from a peer, parsed within limits: any input gives a value or one ``JsonLimitError``.

Python's own parser raises ``RecursionError`` on deeply nested input and a bare ``ValueError``
on an integer longer than 4,300 digits; neither is a ``JSONDecodeError``, so a reader that only
expects the latter dies on them. :func:`loads` turns every failure into :class:`JsonLimitError`
(a ``ValueError``) saying which limit was hit:

- nesting deeper than ``max_depth`` arrays/objects;
- an integer with more than ``max_int_digits`` digits, or outside ``int_range`` when given;
- ``NaN`` / ``Infinity`` (not JSON);
- a NUL character in a string or key when ``allow_nul`` is False (PostgreSQL text refuses it);
- anything else that is not JSON (the parser's own message, with its position).

Depth is checked without walking the value when the text holds no more brackets than the limit,
which is the case for every real event, so the common path costs one ``bytes.count`` pair.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

DEFAULT_MAX_DEPTH = 32
DEFAULT_MAX_INT_DIGITS = 64


class JsonLimitError(ValueError):
    """Input that is not JSON, or JSON beyond one of the limits; the message names which."""


def _refuse_constant(name: str) -> Any:
    raise JsonLimitError(f"{name} is not a JSON number")


def violation(value: Any, max_depth: int, allow_nul: bool = True) -> str:
    """Why a parsed value (JSON, TOML) breaks the depth or NUL rule, or "" when it does not."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
            for key, child in item.items():
                if not allow_nul and "\x00" in key:
                    return "a key contains a NUL character"
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
            stack.extend((child, depth + 1) for child in item)
        elif not allow_nul and isinstance(item, str) and "\x00" in item:
            return "a string contains a NUL character"
    return ""


def loads(
    data: bytes | str,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_int_digits: int = DEFAULT_MAX_INT_DIGITS,
    int_range: tuple[int, int] | None = None,
    allow_nul: bool = True,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
) -> Any:
    """``data`` parsed as JSON within the limits; raises JsonLimitError for anything else."""

    def parse_int(text: str) -> int:
        digits = len(text) - (text[0] == "-")
        if digits > max_int_digits:
            raise JsonLimitError(f"an integer has {digits} digits (at most {max_int_digits})")
        value = int(text)
        if int_range is not None and not int_range[0] <= value <= int_range[1]:
            raise JsonLimitError(f"integer {text} is outside {int_range[0]}..{int_range[1]}")
        return value

    try:
        value = json.loads(
            data,
            parse_int=parse_int,
            parse_constant=_refuse_constant,
            object_pairs_hook=object_pairs_hook,
        )
    except JsonLimitError:
        raise
    except RecursionError:
        raise JsonLimitError(f"nested deeper than {max_depth} levels") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JsonLimitError(f"not JSON: {exc}") from None
    except ValueError as exc:  # e.g. a float literal the runtime refuses
        raise JsonLimitError(f"not JSON: {exc}") from None
    if isinstance(data, str):
        brackets = data.count("{") + data.count("[")
        nul = "\x00" in data or "\\u0000" in data
    else:
        brackets = data.count(b"{") + data.count(b"[")
        nul = b"\x00" in data or b"\\u0000" in data
    check_nul = not allow_nul and nul
    if brackets > max_depth or check_nul:
        why = violation(value, max_depth, allow_nul)
        if why:
            raise JsonLimitError(why)
    return value
