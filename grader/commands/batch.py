"""``python -m grader batch SUBMISSIONS_DIR --out OUT_DIR``: grade a whole class."""

from __future__ import annotations

import sys
from pathlib import Path

from ..batch import BatchError, run_batch
from ..sandbox import Limits
from .similarity import add_threshold


def add_arguments(parser) -> None:
    """Options of ``batch``."""
    parser.add_argument("submissions", type=Path,
                        help="folder holding one folder (or git checkout) per student")
    parser.add_argument("--out", type=Path, required=True, help="where results are written")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="submissions graded at once")
    parser.add_argument("--reviews", type=Path, metavar="FILE",
                        help="CSV of review points: student,check,points,comment")
    parser.add_argument("--force", action="store_true",
                        help="grade again submissions that already have a result")
    parser.add_argument("--timeout", type=float, default=900.0, metavar="S",
                        help="wall-time limit per submission in seconds (default 900)")
    parser.add_argument("--cpu", type=float, default=None, metavar="S",
                        help="CPU-time limit per submission (default: twice --timeout)")
    parser.add_argument("--memory-mb", type=float, default=6144.0, metavar="M",
                        help="address-space limit of a grading process in MiB (default 6144)")
    parser.add_argument("--check-timeout", type=float, default=None, metavar="S",
                        help="per-check time limit (default: the kit's own)")
    parser.add_argument("--restarts", type=int, default=2,
                        help="times a crashed run resumes after the check that crashed it")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="grade on the workers of this Dask scheduler (tcp://HOST:8786); "
                             "needs pip install -e \".[cluster]\" (see docs/INSTRUCTORS.md)")
    add_threshold(parser)
    parser.add_argument("--no-similarity", action="store_true",
                        help="skip the class similarity report (similarity.html)")


def run(args) -> int:
    """Run the batch; exit 2 on bad input."""
    if args.jobs < 1 or args.timeout <= 0 or args.memory_mb <= 0:
        print("batch: -j, --timeout and --memory-mb must be positive", file=sys.stderr)
        return 2
    limits = Limits(timeout=args.timeout, cpu_s=args.cpu, memory_mb=args.memory_mb,
                    check_timeout=args.check_timeout, restarts=max(0, args.restarts))
    try:
        return run_batch(args.submissions, args.out, jobs=args.jobs, reviews_path=args.reviews,
                         force=args.force, limits=limits, scheduler=args.scheduler,
                         similarity=not args.no_similarity,
                         similarity_threshold=args.similarity_threshold)
    except BatchError as exc:
        print(f"batch: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"batch: --scheduler needs Dask: pip install -e \".[cluster]\" ({exc})",
              file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"batch: {exc}", file=sys.stderr)
        return 1
