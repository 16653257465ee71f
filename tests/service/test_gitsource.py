"""GitSource against a real ``git daemon`` on loopback: what a watch loop would see."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from git_daemon import Daemon, git, smart_http
from server import free_port

from controller.service.gitsource import GitError, GitSource, default_workdir, scrub


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    base = tmp_path / "served"
    base.mkdir()
    server = Daemon(base, free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def upstream(tmp_path: Path, daemon: Daemon) -> Path:
    """A bare repo.git served by the daemon with one commit on main, and a working clone
    (returned) that pushes to it over git://."""
    bare = daemon.base / "repo.git"
    git(daemon.base, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    git(bare, "config", "receive.denyDeleteCurrent", "ignore")
    work = tmp_path / "work"
    git(tmp_path, "clone", "--quiet", daemon.url(), str(work))
    git(work, "checkout", "--quiet", "-b", "main")
    commit(work, "assistants/a.yaml", "name: a\n")
    git(work, "push", "--quiet", "origin", "main")
    return work


def commit(work: Path, name: str, text: str) -> str:
    path = work / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git(work, "add", name)
    git(work, "commit", "--quiet", "-m", f"write {name}")
    return git(work, "rev-parse", "HEAD")


def head(work: Path) -> str:
    return git(work, "rev-parse", "HEAD")


def source(daemon: Daemon, tmp_path: Path, ref: str = "main", **kw) -> GitSource:
    return GitSource(daemon.url(), ref, workdir=str(tmp_path / "wd"), timeout=30, **kw)


def test_first_sync_clones_and_returns_the_sha_of_main(daemon: Daemon, upstream: Path, tmp_path: Path) -> None:
    src = source(daemon, tmp_path)
    sha = src.sync()
    assert sha == head(upstream)
    assert (tmp_path / "wd" / "checkout" / "assistants" / "a.yaml").read_text() == "name: a\n"
    assert not (tmp_path / "wd" / "checkout.new").exists()


def test_a_pushed_commit_is_checked_out_by_the_next_sync(daemon: Daemon, upstream: Path, tmp_path: Path) -> None:
    src = source(daemon, tmp_path)
    src.sync()
    new = commit(upstream, "assistants/b.yaml", "name: b\n")
    git(upstream, "push", "--quiet", "origin", "main")
    assert src.sync() == new
    assert (tmp_path / "wd" / "checkout" / "assistants" / "b.yaml").read_text() == "name: b\n"


def test_a_new_source_reuses_an_existing_checkout_of_the_same_url(daemon: Daemon, upstream: Path, tmp_path: Path) -> None:
    source(daemon, tmp_path).sync()
    marker = tmp_path / "wd" / "checkout" / ".git" / "reused"
    marker.write_text("")
    assert source(daemon, tmp_path).sync() == head(upstream)
    assert marker.exists()


def test_a_checkout_of_another_url_is_refused(daemon: Daemon, upstream: Path, tmp_path: Path) -> None:
    source(daemon, tmp_path).sync()
    other = GitSource(daemon.url("other.git"), workdir=str(tmp_path / "wd"), timeout=30)
    with pytest.raises(GitError, match="is a checkout of .*choose another --workdir"):
        other.sync()


def test_a_force_push_moves_the_checkout_to_the_rewritten_head(daemon: Daemon, upstream: Path, tmp_path: Path) -> None:
    src = source(daemon, tmp_path)
    commit(upstream, "assistants/b.yaml", "name: b\n")
    git(upstream, "push", "--quiet", "origin", "main")
    src.sync()
    git(upstream, "reset", "--quiet", "--hard", "HEAD~1")
    rewritten = commit(upstream, "assistants/c.yaml", "name: c\n")
    git(upstream, "push", "--quiet", "--force", "origin", "main")
    assert src.sync() == rewritten
    checkout = tmp_path / "wd" / "checkout"
    assert (checkout / "assistants" / "c.yaml").exists()
    assert not (checkout / "assistants" / "b.yaml").exists()


def test_local_edits_and_untracked_files_are_cleaned_but_nothing_outside_the_checkout(
    daemon: Daemon, upstream: Path, tmp_path: Path
) -> None:
    src = source(daemon, tmp_path)
    src.sync()
    checkout = tmp_path / "wd" / "checkout"
    (checkout / "assistants" / "a.yaml").write_text("edited\n")
    (checkout / "stray.yaml").write_text("x\n")
    (checkout / ".controller").mkdir()
    (checkout / ".controller" / "ignored.db").write_text("x\n")
    beside = tmp_path / "wd" / "keep-me"
    beside.write_text("mine\n")
    assert src.sync() == head(upstream)
    assert (checkout / "assistants" / "a.yaml").read_text() == "name: a\n"
    assert not (checkout / "stray.yaml").exists()
    assert not (checkout / ".controller").exists()
    assert beside.read_text() == "mine\n"
    assert (tmp_path / "wd" / "askpass.sh").exists()


def test_tags_and_full_shas_resolve(daemon: Daemon, upstream: Path, tmp_path: Path) -> None:
    first = head(upstream)
    git(upstream, "tag", "v1")
    git(upstream, "push", "--quiet", "origin", "v1")
    commit(upstream, "assistants/b.yaml", "name: b\n")
    git(upstream, "push", "--quiet", "origin", "main")
    assert GitSource(daemon.url(), "v1", workdir=str(tmp_path / "t"), timeout=30).sync() == first
    pinned = GitSource(daemon.url(), first, workdir=str(tmp_path / "s"), timeout=30)
    assert pinned.sync() == first
    assert not (tmp_path / "s" / "checkout" / "assistants" / "b.yaml").exists()


def test_a_deleted_ref_fails_and_the_checkout_keeps_the_last_good_commit(
    daemon: Daemon, upstream: Path, tmp_path: Path
) -> None:
    src = source(daemon, tmp_path)
    good = src.sync()
    git(upstream, "push", "--quiet", "origin", ":main")
    with pytest.raises(GitError) as caught:
        src.sync()
    message = str(caught.value)
    assert "'main' not found" in message and "\n" not in message
    checkout = tmp_path / "wd" / "checkout"
    assert git(checkout, "rev-parse", "HEAD") == good
    assert (checkout / "assistants" / "a.yaml").read_text() == "name: a\n"
    assert src.sha == good


def test_an_unreachable_server_fails_with_one_line_and_keeps_the_checkout(
    daemon: Daemon, upstream: Path, tmp_path: Path
) -> None:
    src = source(daemon, tmp_path)
    good = src.sync()
    daemon.stop()
    with pytest.raises(GitError) as caught:
        src.sync()
    message = str(caught.value)
    assert message.startswith("git fetch from git://127.0.0.1") and "\n" not in message
    assert git(tmp_path / "wd" / "checkout", "rev-parse", "HEAD") == good


def test_a_server_that_never_answers_times_out_instead_of_hanging(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"git://127.0.0.1:{silent.getsockname()[1]}/repo.git"
        src = GitSource(url, workdir=str(tmp_path / "wd"), timeout=1)
        with pytest.raises(GitError, match=r"^git fetch from git://127\.0\.0\.1:\d+/repo\.git: timed out after 1s$"):
            src.sync()
    assert not (tmp_path / "wd" / "checkout").exists()


def test_a_first_clone_that_fails_leaves_no_checkout(daemon: Daemon, tmp_path: Path) -> None:
    src = GitSource(daemon.url("missing.git"), workdir=str(tmp_path / "wd"), timeout=30)
    with pytest.raises(GitError):
        src.sync()
    assert not (tmp_path / "wd" / "checkout").exists()
    assert not (tmp_path / "wd" / "checkout.new").exists()


def test_the_token_never_appears_in_an_error(tmp_path: Path) -> None:
    token = "ghp_s3cr3tTOKENvalue1234567890"
    port = free_port()  # nothing listens there
    url = f"http://bot:{token}@127.0.0.1:{port}/org/repo.git"
    src = GitSource(url, workdir=str(tmp_path / "wd"), env={**os.environ, "GIT_TOKEN": token}, timeout=30)
    with pytest.raises(GitError) as caught:
        src.sync()
    message = str(caught.value)
    assert token not in message and "bot:" not in message
    assert "http://***@127.0.0.1" in message
    assert token not in repr(src)
    assert token not in (tmp_path / "wd" / "askpass.sh").read_text()


def test_the_askpass_helper_answers_with_the_token_from_its_environment(tmp_path: Path) -> None:
    token = "glpat-an0ther-s3cret"
    src = GitSource("https://git.example/org/repo.git", workdir=str(tmp_path / "wd"), env={"GIT_TOKEN": token})
    src._write_askpass()
    helper = src.askpass_path
    assert token not in Path(helper).read_text()

    def ask(prompt: str, **env: str) -> str:
        return subprocess.run([helper, prompt], env={"PATH": os.environ["PATH"], "GIT_TOKEN": token, **env},
                              capture_output=True, text=True, check=True).stdout

    assert ask("Password for 'https://git.example': ") == token + "\n"
    assert ask("Username for 'https://git.example': ") == "x-access-token\n"
    assert ask("Username for 'https://git.example': ", GIT_USERNAME="oauth2") == "oauth2\n"


def test_scrub_masks_userinfo_and_secrets() -> None:
    assert scrub("fatal: unable to access 'https://u:p@h/r.git/'") == "fatal: unable to access 'https://***@h/r.git/'"
    assert scrub("token abc in text", ["abc"]) == "token *** in text"


def test_default_workdir_is_per_url_and_ignores_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    a = default_workdir("https://github.com/org/repo.git")
    assert a.startswith(str(tmp_path / "assistant-controller") + os.sep)
    assert a == default_workdir("https://bot:tok@github.com/org/repo.git")
    assert a != default_workdir("https://github.com/org/other.git")


def test_a_token_from_the_environment_authenticates_over_https_style_basic_auth(
    daemon: Daemon, upstream: Path, tmp_path: Path
) -> None:
    token = "ghp_httpT0ken"
    with smart_http(daemon.base, "x-access-token", token) as url:
        clean_env = {k: v for k, v in os.environ.items() if k not in ("GIT_TOKEN", "GIT_ASKPASS")}
        with pytest.raises(GitError) as caught:  # no token: fails at once, no prompt
            GitSource(url, workdir=str(tmp_path / "none"), env=clean_env, timeout=30).sync()
        assert "\n" not in str(caught.value)
        wrong = GitSource(url, workdir=str(tmp_path / "wrong"), env={**clean_env, "GIT_TOKEN": "nope-123"}, timeout=30)
        with pytest.raises(GitError) as caught:
            wrong.sync()
        assert "nope-123" not in str(caught.value)
        src = GitSource(url, workdir=str(tmp_path / "ok"), env={**clean_env, "GIT_TOKEN": token}, timeout=30)
        assert src.sync() == head(upstream)
        config = (tmp_path / "ok" / "checkout" / ".git" / "config").read_text()
        assert token not in config
        assert not any(token in p.read_text(errors="ignore") for p in (tmp_path / "ok").iterdir() if p.is_file())
