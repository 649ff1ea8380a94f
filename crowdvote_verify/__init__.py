"""Recount a CrowdVote result from its published snapshot: ``python -m crowdvote_verify FILE``.

Standard library only (no Django, no database, no numpy), installable on its own
(``pip install ./crowdvote_verify``), and independent of the server's fast engine: the
ballots and the tally are recomputed with exact fractions straight from the voting rules.
"""

__version__ = "1.0.0"
