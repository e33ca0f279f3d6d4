"""How many replies of a public corpus our reply extraction gets exactly right.

    .venv/bin/python bench/reply_extraction.py              # in-process, text_reply_split
    .venv/bin/python bench/reply_extraction.py --command    # through `manage.py extract_reply --body`
    .venv/bin/python bench/reply_extraction.py /path/to/email-reply-trimmer --show

The corpus (by default ../shared/corpus/email-reply-trimmer beside the project) holds plain-text bodies in
emails/ and the reply a person wrote in trimmed/, same file names. A body counts as right when the extracted
reply equals the expected one after stripping surrounding white space. The corpus is read where it lies and
never copied into the project: our own tests use fixtures we wrote, so this stays a measure, not a target
the rules are fitted to. In-process is the default (a tenth of a second); --command checks the same function
through the management command, one process per body (about a minute).
"""

import argparse
import difflib
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "email-reply-trimmer"


def extract_in_process(body: bytes) -> str:
    from notifications.extract import text_reply_split

    return text_reply_split(body.decode("utf-8", errors="replace"))[0]


def extract_with_command(body: bytes) -> str:
    result = subprocess.run(  # noqa: S603 - our own manage.py with fixed arguments
        [sys.executable, str(ROOT / "manage.py"), "extract_reply", "--body"],
        input=body,
        capture_output=True,
        check=True,
        cwd=ROOT,
    )
    return result.stdout.decode("utf-8").removesuffix("\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS, help="the corpus folder")
    parser.add_argument("--command", action="store_true", help="run manage.py extract_reply --body per body")
    parser.add_argument("--show", action="store_true", help="print a diff for each miss")
    args = parser.parse_args()

    emails, trimmed = args.corpus / "emails", args.corpus / "trimmed"
    if not emails.is_dir() or not trimmed.is_dir():
        print(f"No corpus at {args.corpus} (expected emails/ and trimmed/ in it)", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    extract = extract_with_command if args.command else extract_in_process

    started = time.perf_counter()
    names = sorted(path.name for path in emails.iterdir() if path.is_file())
    misses = []
    for name in names:
        expected = (trimmed / name).read_text(encoding="utf-8").strip()
        got = extract((emails / name).read_bytes()).strip()
        if got != expected:
            misses.append((name, expected, got))
    elapsed = time.perf_counter() - started

    how = "manage.py extract_reply --body" if args.command else "in-process text_reply_split"
    print(f"{len(names) - len(misses)}/{len(names)} exactly right ({how}, {elapsed:.2f}s)")
    for name, expected, got in misses:
        print(f"  miss: {name}")
        if args.show:
            diff = difflib.unified_diff(
                expected.splitlines(), got.splitlines(), "expected", "extracted", lineterm="", n=1
            )
            print("\n".join(f"    {line}" for line in diff))
    return 0


if __name__ == "__main__":
    sys.exit(main())
