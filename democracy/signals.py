"""democracy's own signal, beside Django's model signals."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by a cast that owns its transaction, before its ballot is written, with ``instance``
# (the ballot, unsaved) and ``ahead`` (its write, a ``core.ahead.Ahead``): a receiver that
# writes for it too may send ``ahead`` at the head of its own message, where they commit
# together, and store its rows there. Otherwise the cast writes, then sends ``post_save``.
ballot_writing = Signal()
