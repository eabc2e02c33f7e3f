"""Name non-ASCII look-alike characters in scenario table names and keys.

Every table name and key of a scenario is plain ASCII. A Cyrillic ``\u0430`` typed
for a Latin ``a`` (``[p\u0430ths]``) looks right in an editor but is a TOML syntax
error (bare names are ASCII only) or, quoted, an unknown table. These helpers
find the character, name it (``U+0430 CYRILLIC SMALL LETTER A``) and suggest
the name that was probably meant.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable

#: Cyrillic and Greek letters and dashes that look like ASCII (as escapes, so that this
#: file holds none), the ASCII they imitate, and invisible characters to drop. NFKC and
#: stripped accents fold the rest (fullwidth letters, ligatures, accented letters).
_LOOKALIKES = (
    "\u0430\u0432\u0435\u0451\u043a\u043c\u043d\u043e\u0440\u0441\u0442"
    "\u0443\u0445\u0456\u0457\u0458\u0455\u0501\u04bb\u051b\u051d\u04af"
    "\u04cf\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422"
    "\u0423\u0425\u0406\u0408\u0405\u03b1\u03b5\u03b9\u03ba\u03bd\u03bf"
    "\u03c1\u03c4\u03c5\u03c7\u0391\u0392\u0395\u0396\u0397\u0399\u039a"
    "\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7\u2010\u2011\u2012\u2013"
    "\u2014\u2212"
)
_ASCII = "abeekmhopctyxiijsdhqwylABEKMHOPCTYXIJSaeikvoptuxABEZHIKMNOPTYX------"
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_CONFUSABLES = str.maketrans(_LOOKALIKES, _ASCII, _INVISIBLE)

_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]*?)\s*\]")
_KEY = re.compile(r"^\s*([^=]*?)\s*=")


def fold(name: str) -> str:
    """``name`` with look-alike letters replaced by the ASCII letters they imitate."""
    text = unicodedata.normalize("NFKC", name.translate(_CONFUSABLES))
    text = unicodedata.normalize("NFKD", text)
    return "".join(char for char in text if not unicodedata.combining(char))


def first_non_ascii(text: str) -> int | None:
    """Index of the first non-ASCII character of ``text``, or ``None``."""
    for index, char in enumerate(text):
        if ord(char) > 127:
            return index
    return None


def describe_char(char: str) -> str:
    """``"'\\u0430' (U+0430 CYRILLIC SMALL LETTER A)"`` for the Cyrillic letter."""
    name = unicodedata.name(char, "unnamed character")
    return f"{char!r} (U+{ord(char):04X} {name})"


def suggest(name: str, known: Iterable[str]) -> str | None:
    """The known name ``name`` most likely imitates, or ``None``."""
    candidates = sorted(known)
    folded = fold(name)
    if folded in candidates:
        return folded
    lowered = {candidate.lower(): candidate for candidate in candidates}
    if folded.lower() in lowered:
        return lowered[folded.lower()]
    close = difflib.get_close_matches(folded, candidates, n=1, cutoff=0.6)
    return close[0] if close else None


def non_ascii_note(name: str) -> str | None:
    """``"holds a non-ASCII character ..."`` for a name with one, else ``None``."""
    index = first_non_ascii(name)
    if index is None:
        return None
    return f"holds a non-ASCII character {describe_char(name[index])} at position {index + 1}"


def toml_error_detail(
    text: str, message: str, tables: Iterable[str], keys: Iterable[str]
) -> tuple[str, str] | None:
    """Explain a TOML syntax error caused by a non-ASCII character in a name.

    Parameters
    ----------
    text
        The scenario file's text.
    message
        The ``tomllib.TOMLDecodeError`` message, which ends in ``(at line N, column M)``.
    tables, keys
        Known table names and keys, for the suggestion.

    Returns
    -------
    tuple of str or None
        ``(problem, expected)`` for an :class:`~stresstest.errors.InputError`,
        or ``None`` when the error's line holds no non-ASCII name.
    """
    position = _POSITION.search(message)
    if position is None:
        return None
    line_number = int(position.group(1))
    lines = text.splitlines()
    if not 1 <= line_number <= len(lines):
        return None
    line = lines[line_number - 1]
    header = _HEADER.match(line)
    if header is not None:
        what, name, known, start = "table name", header.group(1), tables, header.start(1)
    else:
        key = _KEY.match(line)
        if key is not None:
            what, name, known, start = "key", key.group(1), keys, key.start(1)
        else:
            what, name, known, start = "name", line.strip(), keys, line.index(line.strip()[:1])
    index = first_non_ascii(name)
    if index is None:
        return None
    guess = suggest(name.strip("\"'"), known)
    if guess is None:
        hint = ""
    elif what == "table name":
        hint = f" - did you mean [{guess}]?"
    else:
        hint = f" - did you mean {guess}?"
    problem = (
        f"line {line_number}: {what} {name!r} holds a non-ASCII character "
        f"{describe_char(name[index])} at column {start + index + 1}"
    )
    return problem, f"ASCII letters{hint}"
