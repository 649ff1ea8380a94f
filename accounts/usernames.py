"""How usernames are compared for look-alikes: one key per way a name reads.

Usernames are shown to other members as display names, so two that read alike (``alice``
and the same with a dotless i, U+0131) would let one member pass for another.
"""

from __future__ import annotations

import unicodedata

# Letters that read as a Latin letter but that neither NFKC nor case folding turn into it.
# Not the whole Unicode confusables table: the look-alikes of the letters names are made of.
# Written as escapes: the letters themselves would be the confusion this module prevents.
CONFUSABLES = str.maketrans(
    {
        "\u0131": "i",  # dotless i
        "\u0237": "j",  # dotless j
        "\u0261": "g",  # script g
        "\u0430": "a",  # Cyrillic a
        "\u0432": "b",  # Cyrillic ve (small capital B)
        "\u0435": "e",  # Cyrillic ie
        "\u04bb": "h",  # Cyrillic shha
        "\u0456": "i",  # Cyrillic Byelorussian-Ukrainian i
        "\u0458": "j",  # Cyrillic je
        "\u043a": "k",  # Cyrillic ka
        "\u043c": "m",  # Cyrillic em
        "\u043d": "h",  # Cyrillic en
        "\u043e": "o",  # Cyrillic o
        "\u0440": "p",  # Cyrillic er
        "\u0441": "c",  # Cyrillic es
        "\u0442": "t",  # Cyrillic te
        "\u0443": "y",  # Cyrillic u
        "\u0445": "x",  # Cyrillic ha
        "\u0455": "s",  # Cyrillic dze
        "\u0501": "d",  # Cyrillic komi de
        "\u03b1": "a",  # Greek alpha
        "\u03b2": "b",  # Greek beta
        "\u03b5": "e",  # Greek epsilon
        "\u03b9": "i",  # Greek iota
        "\u03ba": "k",  # Greek kappa
        "\u03bd": "v",  # Greek nu
        "\u03bf": "o",  # Greek omicron
        "\u03c1": "p",  # Greek rho
        "\u03c4": "t",  # Greek tau
        "\u03c5": "u",  # Greek upsilon
        "\u03c7": "x",  # Greek chi
    }
)


def username_key(username: str) -> str:
    """Return the key that usernames reading alike share (``Alice`` and ``alice``: ``alice``).

    NFKC, as Django normalises usernames (the long s, U+017F, is ``s``), case folded,
    accents dropped (``é`` reads as ``e``), then the confusable letters above made Latin.
    """
    folded = unicodedata.normalize("NFKC", username).casefold()
    bare = "".join(
        char for char in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(char)
    )
    return bare.translate(CONFUSABLES)
