"""``python -m grader check-harness [PATH]`` (was ``verify``): list grader files a repo changed."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import manifest


def add_arguments(parser) -> None:
    """Options of ``verify``."""
    parser.add_argument("path", nargs="?", type=Path, default=Path("."),
                        help="the repository to check (default: the current folder)")
    parser.add_argument("--manifest", type=Path, default=manifest.MANIFEST,
                        help="the manifest to compare with (default: the kit's)")
    parser.add_argument("--update-manifest", action="store_true",
                        help="rebuild the manifest from this kit instead of comparing")


def run(args) -> int:
    """Exit 0 when every grader file matches, 1 when any differs, 2 on bad input."""
    if args.update_manifest:
        data = manifest.build()
        manifest.write(data, args.manifest)
        print(f"check-harness: wrote {args.manifest} ({len(data['files'])} files)")
        return 0
    if not args.path.is_dir():
        print(f"check-harness: {args.path}: not a folder", file=sys.stderr)
        return 2
    try:
        expected = manifest.load(args.manifest)
    except (OSError, ValueError, KeyError) as exc:
        print(f"check-harness: cannot read the manifest {args.manifest}: {exc}", file=sys.stderr)
        return 2
    result = manifest.compare(args.path, expected)
    if result.clean:
        print(f"check-harness: all {result.checked} grader files match the kit's manifest "
              f"(kit {expected.get('kit_version', '?')})")
        return 0
    lines = result.lines()
    print(f"verify: {len(lines)} file(s) differ from the kit's manifest "
          f"(kit {expected.get('kit_version', '?')}):")
    for line in lines:
        print(f"  {line}")
    print("Grades come from `python -m grader batch`, which ignores these files; "
          "this list shows what was edited.")
    return 1
