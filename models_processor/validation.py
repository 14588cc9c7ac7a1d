"""One short, readable description of a pydantic ValidationError, for error answers and model feedback.

Locations and messages only: the offending input is never echoed (it may be a photo or personal data).
"""

from __future__ import annotations

from pydantic import ValidationError


def describe_validation_error(error: Exception, *, limit: int = 8, root: str = "(root)",
                              max_chars: int | None = 1500) -> str:
    """`loc: msg; loc: msg` for the first `limit` errors (`root` names an error of the whole value);
    any other exception as its text. Cut to `max_chars` when given."""
    if isinstance(error, ValidationError):
        parts = []
        for err in error.errors(include_url=False, include_input=False)[:limit]:
            where = ".".join(str(p) for p in err["loc"]) or root
            parts.append(f"{where}: {err['msg']}")
        text = "; ".join(parts)
    else:
        text = str(error)
    return text if max_chars is None else text[:max_chars]
