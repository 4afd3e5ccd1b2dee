"""`python -m corrigibench.reward_hints.answers fetch|score`.

fetch  rebuild the answer texts from their sources into the cache (checked by sha256)
score  score the answer rule against the hand labels on the cached texts
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from corrigibench.reward_hints.answers.dataset import default_cache, fetch, load
from corrigibench.reward_hints.answers.score import score, table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m corrigibench.reward_hints.answers",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="rebuild the texts from the sources")
    f.add_argument("--checkouts", type=Path,
                   help="directory of <owner>+<name> checkouts at the cited commits "
                        "(default: download from GitHub)")
    s = sub.add_parser("score", help="score the answer rule on the cached texts")
    s.add_argument("--split", choices=("dev", "test", "all"), default="dev")
    s.add_argument("--errors", action="store_true", help="list the rows the rule gets wrong")
    for q in (f, s):
        q.add_argument("--cache", type=Path, default=None,
                       help=f"the texts' cache file (default {default_cache()})")
    args = p.parse_args(argv)
    if args.command == "fetch":
        written, problems = fetch(args.cache, args.checkouts)
        for line in problems:
            print(line, file=sys.stderr)
        print(f"{written} texts written to {args.cache or default_cache()}; "
              f"{len(problems)} rows could not be rebuilt")
        return 1 if problems else 0
    rows = [r for r in load(args.cache) if args.split in ("all", r.split)]
    missing = sum(r.text is None for r in rows)
    if missing == len(rows):
        print(f"no texts cached for the {args.split} split: run `fetch` first", file=sys.stderr)
        return 2
    tallies = score(rows)
    print(table(tallies), end="")
    if missing:
        print(f"({missing} of {len(rows)} rows have no cached text and were not scored)")
    if args.errors:
        for row, answer in tallies["all"].errors:
            print(f"- {row.id}: label {row.label}, rule {answer}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
