"""The cookie-scan command."""

from __future__ import annotations

import argparse
import sys

from scanner.declaration import DeclarationError, read_declaration


def main(argv: list[str] | None = None) -> int:
    """Entry point of cookie-scan; exit 0 clean, 1 findings, 2 usage or scan error."""
    parser = argparse.ArgumentParser(prog="cookie-scan", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    check = sub.add_parser("check-declaration", help="validate a site.yaml and print its summary")
    check.add_argument("file")
    args = parser.parse_args(argv)
    if args.command == "check-declaration":
        try:
            decl = read_declaration(args.file)
        except DeclarationError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(
            f"{decl.site}: {len(decl.category_keys())} categories, "
            f"{len(decl.data['cookies'])} cookies, revision hash {decl.content_hash()[:12]}"
        )
        return 0
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
