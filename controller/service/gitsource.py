"""A git repository as the source of manifests, driven with the ``git`` command.

Why the command and not a library: it is what the container ships, it speaks every
transport (https, ssh, git://, file) with the user's own ssh config, and its auth is
the one operators already know how to configure.

Layout of ``workdir`` (the controller owns it; nothing else should write there)::

    <workdir>/checkout/       the work tree at the last synced commit (detached HEAD)
    <workdir>/checkout.new/   a first clone in progress; renamed to checkout/ when done
    <workdir>/askpass.sh      GIT_ASKPASS helper; holds no secret (see below)

Guarantees of :meth:`GitSource.sync`:

- *Never half-updated.* Everything that talks to the network (fetch) runs before the
  work tree is touched; when it fails the checkout stays at the last good commit.
  A first clone is built beside ``checkout/`` and renamed into place only when
  complete, so ``checkout/`` exists only once it holds a whole commit.
- *Exactly the commit the ref names.* Refs are fetched with ``+`` refspecs and
  ``--prune`` so a force push or a deleted branch is seen as such, then the resolved
  SHA is checked out detached, forced and cleaned (``git clean -ffdx``). Every git
  command runs with an explicit ``GIT_DIR``/``GIT_WORK_TREE`` so nothing outside
  ``checkout/`` can be cleaned, even if ``checkout/.git`` vanished and the workdir
  sits inside another repository.
- *No prompts, no hangs.* ``GIT_TERMINAL_PROMPT=0``, ssh in batch mode (unless the
  user sets ``GIT_SSH_COMMAND``), and a timeout on every git process (its whole
  process group is killed, so a stuck ``ssh`` or ``git-remote-https`` child cannot
  keep us waiting).
- *No secret on disk or in messages.* An HTTPS token comes from ``GIT_TOKEN`` via a
  GIT_ASKPASS helper that reads it from *its own* environment when git runs it: the
  token is never written to a file nor put in the URL. Every error message is
  scrubbed of URL userinfo and of the token's value.

Submodules and Git LFS are not fetched.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from controller.core.errors import ControllerError

#: Where ``controller watch --git URL`` keeps its checkouts unless ``--workdir`` says
#: otherwise: one subdirectory per URL (see :func:`default_workdir`).
DEFAULT_CACHE_DIR = "~/.cache/assistant-controller"

#: Seconds one git process may run (a fetch of a large repository over a slow link
#: included) before it is killed and the sync fails.
DEFAULT_TIMEOUT = 300.0

#: The username git sends with ``GIT_TOKEN`` when the URL names none. GitHub wants
#: ``x-access-token``; GitLab, Gitea and Bitbucket accept any non-empty name with a
#: token. ``GIT_USERNAME`` in the environment overrides it.
DEFAULT_TOKEN_USERNAME = "x-access-token"

# Reads the token from the environment git passes down; the file itself holds nothing
# secret. Git runs it with the prompt as $1 ("Username for 'https://host': ").
ASKPASS_SCRIPT = """#!/bin/sh
# Written by assistant-controller. Holds no secret: it prints GIT_TOKEN from the
# environment of the git process that runs it.
case "$1" in
  Username*|username*) printf '%s\\n' "${GIT_USERNAME:-@USERNAME@}" ;;
  *) printf '%s\\n' "$GIT_TOKEN" ;;
esac
"""

# Variables that would point git at another repository than the checkout (set when
# the controller itself runs from a git hook, for instance).
_REPO_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_CEILING_DIRECTORIES",
)

_FULL_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s'\"]*@")
_REFSPECS = ("+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")


class GitError(ControllerError):
    """The repository could not be synced (network, auth, missing ref, bad workdir).

    The message is one line, free of credentials; the checkout, if any, is unchanged.
    """


def default_workdir(url: str) -> str:
    """``$XDG_CACHE_HOME/assistant-controller/<hash>`` (else ``~/.cache/...``) for ``url``.

    The hash ignores userinfo in the URL so rotating a credential embedded there does
    not orphan the checkout, and it keeps the directory name free of the URL's text.
    """
    cache = os.environ.get("XDG_CACHE_HOME")
    root = os.path.join(cache, "assistant-controller") if cache else os.path.expanduser(DEFAULT_CACHE_DIR)
    digest = hashlib.sha256(_strip_userinfo(url).encode()).hexdigest()[:16]
    return os.path.join(root, digest)


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` with URL userinfo replaced by ``***`` and each secret value masked."""
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class GitSource:
    """A checkout of ``url`` kept at the commit ``ref`` points to.

    ``ref`` is a branch name (``refs/heads/<ref>``), else a tag, else a full commit
    SHA; ``refs/heads/x`` and ``refs/tags/x`` are accepted as written. ``env`` is the
    environment git runs with (default: this process's), the only source of
    ``GIT_TOKEN``, ``GIT_USERNAME`` and ``GIT_SSH_COMMAND``.
    """

    def __init__(
        self,
        url: str,
        ref: str = "main",
        *,
        workdir: str,
        env: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ):
        if not url:
            raise GitError("git source: the repository URL is empty")
        if not ref or ref.startswith("-") or any(c.isspace() for c in ref):
            raise GitError(f"git source: invalid ref {ref!r}")
        self.url = url
        self.ref = ref
        self.workdir = os.path.abspath(os.path.expanduser(workdir))
        self.checkout = os.path.join(self.workdir, "checkout")
        self.timeout = timeout
        self._env = dict(os.environ if env is None else env)
        self._secrets = [v for v in (self._env.get("GIT_TOKEN", ""),) if v]
        self._display = scrub(url, self._secrets)
        self.sha: str | None = None  # the commit the checkout holds after a successful sync

    def __repr__(self) -> str:
        return f"GitSource({self._display!r}, ref={self.ref!r}, workdir={self.workdir!r})"

    # -- the one public operation -------------------------------------------------

    def sync(self) -> str:
        """Bring the checkout to the commit ``ref`` names now; return that commit's SHA.

        Clones on first use (or adopts an existing checkout of the same URL), fetches
        afterwards. Raises :class:`GitError`; the checkout then keeps its last commit.
        """
        os.makedirs(self.workdir, exist_ok=True)
        self._write_askpass()
        if os.path.isdir(os.path.join(self.checkout, ".git")):
            self._check_origin(self.checkout)
            self._fetch(self.checkout)
            sha = self._resolve(self.checkout)
            self._checkout(self.checkout, sha)
        elif os.path.lexists(self.checkout):
            raise GitError(
                f"git source: {self.checkout} exists but is not a git checkout; "
                "remove it or choose another --workdir"
            )
        else:
            sha = self._clone()
        self.sha = sha
        return sha

    # -- steps ----------------------------------------------------------------------

    def _clone(self) -> str:
        """Init, fetch and check out in ``checkout.new/``, then rename it into place."""
        staging = self.checkout + ".new"
        if os.path.lexists(staging):  # a first clone interrupted earlier: ours to discard
            shutil.rmtree(staging)
        os.makedirs(staging)
        try:
            self._git(staging, "init", "--quiet", what="git init")
            self._git(staging, "remote", "add", "origin", self.url, what="git remote add")
            self._git(staging, "config", "--unset-all", "remote.origin.fetch", what="git config", check=False)
            for spec in _REFSPECS:
                self._git(staging, "config", "--add", "remote.origin.fetch", spec, what="git config")
            self._fetch(staging)
            sha = self._resolve(staging)
            self._checkout(staging, sha)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        os.rename(staging, self.checkout)
        return sha

    def _check_origin(self, repo: str) -> None:
        origin = self._git(repo, "config", "--get", "remote.origin.url", what="git config", check=False).strip()
        if origin == self.url:
            return
        if origin and _strip_userinfo(origin) == _strip_userinfo(self.url):
            # Same repository, other credentials in the URL (rotated): adopt the new URL.
            self._git(repo, "remote", "set-url", "origin", self.url, what="git remote set-url")
        else:
            raise GitError(
                f"git source: {self.checkout} is a checkout of {scrub(origin, self._secrets) or 'another repository'}, "
                f"not {self._display}; remove it or choose another --workdir"
            )

    def _fetch(self, repo: str) -> None:
        # Explicit refspecs: '+' accepts force pushes, --prune forgets deleted
        # branches and tags so a vanished ref is reported instead of served stale.
        self._git(
            repo, "fetch", "--quiet", "--prune", "--no-tags", "origin", *_REFSPECS,
            what=f"git fetch from {self._display}",
        )

    def _resolve(self, repo: str) -> str:
        """The commit SHA ``ref`` names among what was just fetched."""
        ref = self.ref
        if ref.startswith("refs/heads/"):
            candidates = [f"refs/remotes/origin/{ref[len('refs/heads/'):]}"]
        elif ref.startswith("refs/"):
            candidates = [ref]
        else:
            candidates = [f"refs/remotes/origin/{ref}", f"refs/tags/{ref}"]
        for name in candidates:
            sha = self._rev_parse(repo, f"{name}^{{commit}}")
            if sha:
                return sha
        if _FULL_SHA.match(ref):
            if not self._rev_parse(repo, f"{ref}^{{commit}}"):
                # Not reachable from any branch or tag: ask for it by id (servers that
                # allow it, e.g. protocol v2 with uploadpack.allowReachableSHA1InWant).
                self._git(repo, "fetch", "--quiet", "origin", ref, what=f"git fetch of commit {ref} from {self._display}")
            sha = self._rev_parse(repo, f"{ref}^{{commit}}")
            if sha:
                return sha
        raise GitError(f"git source: ref {ref!r} not found in {self._display} (no branch, tag or commit of that name)")

    def _rev_parse(self, repo: str, expr: str) -> str:
        return self._git(repo, "rev-parse", "--verify", "--quiet", expr, what="git rev-parse", check=False).strip()

    def _checkout(self, repo: str, sha: str) -> None:
        self._git(repo, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--force", "--detach", sha,
                  what=f"git checkout {sha}")
        self._git(repo, "clean", "-ffdx", "--quiet", what="git clean")

    # -- running git ----------------------------------------------------------------

    def _write_askpass(self) -> None:
        """(Re)write the helper if missing or different: a workdir may outlive versions."""
        os.makedirs(self.workdir, exist_ok=True)
        path = self.askpass_path
        content = ASKPASS_SCRIPT.replace("@USERNAME@", DEFAULT_TOKEN_USERNAME)
        try:
            with open(path, encoding="utf-8") as f:
                if f.read() == content and os.access(path, os.X_OK):
                    return
        except OSError:
            pass
        tmp = path + ".tmp"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700), "w", encoding="utf-8") as f:
            f.write(content)
        os.chmod(tmp, 0o700)
        os.replace(tmp, path)

    @property
    def askpass_path(self) -> str:
        """The GIT_ASKPASS helper git runs when ``GIT_TOKEN`` is set (no secret inside)."""
        return os.path.join(self.workdir, "askpass.sh")

    def _git_env(self, repo: str) -> dict[str, str]:
        env = {k: v for k, v in self._env.items() if k not in _REPO_VARIABLES}
        env.update(
            GIT_DIR=os.path.join(repo, ".git"),
            GIT_WORK_TREE=repo,
            GIT_TERMINAL_PROMPT="0",
            LC_ALL="C",  # messages we can recognise and show
        )
        # Never let a credential prompt reach a terminal (there is none in a service).
        env.pop("SSH_ASKPASS", None)
        env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        if env.get("GIT_TOKEN"):
            env["GIT_ASKPASS"] = self.askpass_path
        else:
            env.pop("GIT_ASKPASS", None)
        return env

    def _git(self, repo: str, *args: str, what: str, check: bool = True) -> str:
        """Run ``git args`` on ``repo``; stdout, or :class:`GitError` naming ``what``."""
        try:
            proc = subprocess.Popen(
                ["git", *args],
                cwd=repo,
                env=self._git_env(repo),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,  # a timeout kills git *and* its ssh/remote helpers
            )
        except OSError as exc:
            raise GitError(f"git source: cannot run git: {exc.strerror}") from None
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise GitError(f"{what}: timed out after {self.timeout:g}s") from None
        if check and proc.returncode != 0:
            raise GitError(f"{what} failed: {self._reason(err, proc.returncode)}")
        return out

    def _reason(self, stderr: str, code: int) -> str:
        """The one line of git's stderr that says what went wrong.

        Git's first ``fatal:``/``error:`` line is the specific one (the later ones are
        generic), except that it sometimes ends in ``:`` with the cause on the next
        line (git://), or is the generic "Could not read from remote repository" with
        the cause on the line before (ssh: "Permission denied (publickey).").
        """
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        lines = [line for line in lines if not line.startswith(("Please make sure", "and the repository exists"))]
        if not lines:
            return f"git exited with status {code}"
        first = next((i for i, line in enumerate(lines) if line.startswith(("fatal:", "error:"))), None)
        if first is None:
            reason = lines[-1]
        else:
            reason = re.sub(r"^(fatal|error):\s*", "", lines[first])
            if reason.endswith(":") and first + 1 < len(lines):
                reason = f"{reason} {lines[first + 1]}"
            elif reason.startswith("Could not read from remote repository") and first > 0:
                reason = f"{lines[first - 1]} ({reason.rstrip('.')})"
        return scrub(reason, self._secrets)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    proc.communicate()


def _strip_userinfo(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return url
