"""``python -m crowdvote_verify FILE``: recount a published snapshot and print the verdict.

Exit status 0 when everything recounts the same ("OK: …"), 1 at the first difference
("MISMATCH: …"), 2 when the file cannot be read as a snapshot.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crowdvote_verify.check import verify
from crowdvote_verify.document import Unreadable, read


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crowdvote_verify",
        description="Recount a CrowdVote result from its published snapshot (a JSON file).",
    )
    parser.add_argument("file", help="the snapshot file downloaded from CrowdVote; - for stdin")
    args = parser.parse_args(argv)
    try:
        text = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        published = read(text)
    except (OSError, Unreadable) as error:
        print(f"ERROR: cannot read {args.file} as a CrowdVote snapshot: {error}", file=sys.stderr)
        return 2
    verdict = verify(published)
    print("\n".join(verdict.lines))
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
