"""The command line: every subcommand, its flags and its help, in one place."""

from __future__ import annotations

import argparse
import os

from controller import __version__

EXIT_CODES = "Exit codes: 0 ok/no changes, 1 error, 2 plan/status --detailed-exitcode with changes, 3 smoke test or eval gate failed."


def docs(section: str) -> str:
    """Where to read more: the README by name and section (a pip install has no README.md
    file to point to, but every copy of the project, and its package metadata, has the README)."""
    return f'Docs: the assistant-controller README, section "{section}". {EXIT_CODES}'


EPILOG = docs("Commands")
#: The README section that tells the most about each command (the others: "Commands").
SECTIONS = {"validate": "Manifests", "plan": "How plans are made", "watch": "Watch mode", "test": "Smoke tests",
            "eval": "Evaluations", "schema": "Manifests", "render": "Prompt files and Defaults"}


def _common(p: argparse.ArgumentParser, *, target: bool = True, markdown: bool = False,
            formats: tuple[str, ...] = ("text", "json")) -> None:
    g = p.add_argument_group("common options")
    formats = (*formats, "markdown") if markdown else formats
    g.add_argument("-o", "--output", choices=formats, default=formats[0],
                   help=f"output format (default: {formats[0]})" + ("; markdown: for a pull-request comment" if markdown else ""))
    g.add_argument("--config", metavar="FILE", default=os.environ.get("CONTROLLER_CONFIG") or None,
                   help="controller.yaml to use (default: $CONTROLLER_CONFIG, else found by walking up from the current "
                        "directory; its folder is the project root; with watch --git, relative to the checkout)")
    if target:
        g.add_argument("-t", "--target", metavar="T", help="target from controller.yaml (default: $CONTROLLER_TARGET, then defaultTarget)")
        g.add_argument("--url", metavar="URL", help="an Agent Server URL: with -t, that target's settings at this URL; alone, "
                                                    "the configured target with this URL, else an ad-hoc one")
        g.add_argument("--owner", metavar="NAME", help="owner of the assistants (default: $CONTROLLER_OWNER, then owner: in controller.yaml; "
                       "embedded targets fall back to the project root's folder name)")
        g.add_argument("--concurrency", type=int, metavar="N", help="parallel requests to a remote target (default 32)")
    g.add_argument("-v", "--verbose", action="store_true", help="more detail; tracebacks on errors")
    g.add_argument("-q", "--quiet", action="store_true", help="only errors, warnings and the summary")
    g.add_argument("--no-color", action="store_true", help="no colour (also NO_COLOR); colour is used only on a TTY")


def _lock_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lock-timeout", metavar="DURATION",
                   help="on an embedded target, wait this long for another controller's state lock (default: fail at once)")


def _path_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("-p", "--path", action="append", dest="paths", metavar="PATH", help="manifest files or folders (default: .)")


def _paths(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH", help="manifest files or folders (default: .)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="controller",
        description="Declarative GitOps for LangGraph assistants: manifests in git → assistants with versions on a target.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"assistant-controller {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("validate", help="check manifests offline: YAML, schema, interpolation, duplicates, graph names and schemas",
                       description="Load every manifest under PATH and report all problems, one line each. Talks to no server: "
                                   "spec.graph must name a graph of the local langgraph.json (the embedded target's, or the "
                                   "project's), and on the embedded target config and context are also checked against the "
                                   "graphs' schemas, as plan checks them. Needs no secrets: an unset variable is a warning "
                                   "unless --require-env.")
    _paths(p)
    p.add_argument("--require-env", action="store_true", help="an unset ${VAR} is an error, as it is for plan and apply")
    p.add_argument("--offline", action="store_true", help="leave the graphs alone: no langgraph.json read, no graph loaded "
                                                          "(a hook without the graphs' dependencies)")
    _common(p)

    p = sub.add_parser("plan", help="show what apply would change", description="Compare the manifests with the target and print the changes.")
    _paths(p)
    p.add_argument("--prune", action="store_true", help="also plan deleting owned assistants no manifest declares")
    p.add_argument("-l", "--selector", metavar="SELECTOR", help="only manifests whose labels match, e.g. team=content")
    p.add_argument("--adopt", action="store_true", help="plan taking over assistants that exist with another or no owner")
    p.add_argument("--out", metavar="PLAN", help="save the plan to apply exactly later: controller apply PLAN")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when there are changes, 0 when none")
    _common(p, markdown=True)

    p = sub.add_parser("apply", help="make the target match the manifests (or apply a saved plan)",
                       description="Plan, confirm, then create/update/repin/delete, gating each change with its smoke tests and evals.")
    p.add_argument("paths", nargs="*", metavar="PATH|PLAN", help="manifest files or folders (default: .), or one saved plan file")
    p.add_argument("--prune", action="store_true", help="delete owned assistants no manifest declares")
    p.add_argument("--max-deletes", type=int, metavar="N", help="refuse to prune more than N (default 10, or the target's maxDeletes)")
    p.add_argument("-l", "--selector", metavar="SELECTOR", help="only manifests whose labels match, e.g. team=content")
    p.add_argument("--auto-approve", action="store_true", help="apply without asking (needed without a terminal; a saved plan is already approved)")
    p.add_argument("--smoke", choices=("after", "before"), help="after: apply, test (smoke cases, then evals), roll back on failure (default); "
                                                                            "before: test a candidate first")
    p.add_argument("--no-smoke", action="store_true", help="skip smoke tests and evals")
    p.add_argument("--keep-failed", action="store_true", help="keep a newly created assistant whose smoke tests or evals failed")
    p.add_argument("--adopt", action="store_true", help="take over assistants that exist with another or no owner")
    p.add_argument("--junit", metavar="FILE", help="write smoke test results as JUnit XML")
    _lock_timeout(p)
    _common(p)

    p = sub.add_parser("destroy", help="delete every assistant of an owner on a target",
                       description="Delete every assistant the owner (--owner, CONTROLLER_OWNER or owner: in controller.yaml) has on the "
                                   "target, whatever the manifests say: how a retired owner or a per-pull-request preview "
                                   "(apply --owner pr-42) is torn down. Shows the plan first; asks on a terminal.")
    p.add_argument("--auto-approve", action="store_true", help="destroy without asking (needed without a terminal)")
    p.add_argument("--max-deletes", type=int, metavar="N", help="refuse to delete more than N (default 10, or the target's maxDeletes)")
    p.add_argument("--all", action="store_true", help="no --max-deletes limit")
    _lock_timeout(p)
    _common(p)

    p = sub.add_parser("status", help="show each assistant's sync state, version and revision",
                       description="One row per declared or owned assistant: Synced, OutOfSync (content differs), "
                                   "Missing (declared, absent) or Orphan (owned, undeclared). Writes nothing.")
    _paths(p)
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 2 unless every assistant is Synced, 0 when all are")
    _common(p)

    p = sub.add_parser("watch", help="reconcile continuously: at start, on file changes, every interval",
                       description="Run until SIGINT/SIGTERM. Bad edits are reported and the last good manifests stay in force.")
    _paths(p)
    p.add_argument("--interval", default="60s", metavar="DURATION", help="also reconcile this often to catch drift (default 60s)")
    p.add_argument("--self-heal", action="store_true", help="repair drift (otherwise it is reported only)")
    p.add_argument("--prune", action="store_true", help="delete owned assistants no manifest declares")
    p.add_argument("--max-deletes", type=int, metavar="N", help="refuse to prune more than N per reconcile")
    p.add_argument("--no-smoke", action="store_true", help="skip smoke tests and evals")
    p.add_argument("--git", metavar="URL", help="reconcile the commits of this git repository (its checkout is the project root)")
    p.add_argument("--ref", default="main", metavar="REF", help="branch, tag or commit to follow with --git (default: main)")
    p.add_argument("--workdir", metavar="DIR", help="where --git keeps its checkout and an embedded target's state "
                                                    "(default: ~/.cache/assistant-controller/<hash of URL>)")
    p.add_argument("--listen", metavar="HOST:PORT", help="serve /healthz, /readyz, /status, /metrics and POST /hooks/git")
    p.add_argument("--webhook-secret-env", metavar="VAR", help="env variable holding the /hooks/git secret "
                                                               "(default: CONTROLLER_WEBHOOK_SECRET when set)")
    p.add_argument("--notify-url", metavar="URL", help="POST applied, rolled-back, drift and error events as JSON here "
                                                       "(default: notify in controller.yaml)")
    _lock_timeout(p)
    _common(p)

    p = sub.add_parser("test", help="run smoke tests against what is active now",
                       description="Run the smoke cases of the named assistants (default: all) on their active versions.")
    p.add_argument("names", nargs="*", metavar="NAME", help="assistants to test (default: all declared)")
    _path_option(p)
    p.add_argument("--junit", metavar="FILE", help="write results as JUnit XML")
    _common(p)

    p = sub.add_parser("eval", help="run evaluations (spec.evals) and check their gates",
                       description="Run each eval of the named assistants (default: every one with evals): every case of its "
                                   "dataset, repeat times, graded by its evaluators, on the active version; with --candidate, on "
                                   "a temporary candidate with the manifests' content, compared with the active version "
                                   "(nothing is left behind). Exit 0 when every gate passes, 3 when one fails, 1 on an error.")
    p.add_argument("names", nargs="*", metavar="NAME", help="assistants to evaluate (default: every one that declares evals)")
    _path_option(p)
    p.add_argument("--candidate", action="store_true",
                   help="evaluate the manifests' content as temporary candidates against the active versions "
                        "(content equal to the active version: the active version is evaluated)")
    p.add_argument("--junit", metavar="FILE", help="write results as JUnit XML: one test case per dataset case, with its pass count")
    _lock_timeout(p)
    _common(p, markdown=True)

    p = sub.add_parser("history", help="list an assistant's versions",
                       description="Versions of one assistant: number, created, revision, source, verdict (VERDICT: passed, failed, "
                                   "skipped, or - when the controller did not write it; with the pass rate "
                                   "when evals judged it), active.")
    p.add_argument("name", metavar="NAME")
    _path_option(p)
    _common(p)

    p = sub.add_parser("rollback", help="make an earlier version active again",
                       description="Make version N of NAME active again (default: the most recent earlier version whose content differs and did not "
                                   "fail its own smoke tests), then run the smoke cases that version was written with (the manifests' when they "
                                   "are the same, else the manifest at its controller/revision in git, else none; the result says which); on "
                                   "failure the active content is restored (exit 3). A watch holds the assistant until its manifest changes; "
                                   "plan shows it as drift.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--to", type=int, metavar="N", help="version to make active")
    p.add_argument("--force", action="store_true", help="allow --to a version whose content failed its smoke tests")
    p.add_argument("--no-smoke", action="store_true", help="skip the restored version's smoke cases")
    _path_option(p)
    _lock_timeout(p)
    _common(p)

    p = sub.add_parser("render", help="print each assistant's effective manifest: Defaults merged, prompt files read",
                       description="Print each assistant as it will be written, like kustomize build: its Defaults merged, "
                                   "its prompt files read, variables resolved (values from the environment masked). "
                                   "Talks to no target; -t picks the target whose values apply.")
    p.add_argument("names", nargs="*", metavar="NAME", help="assistants to print (default: all declared)")
    _path_option(p)
    _common(p, formats=("yaml", "json"))

    p = sub.add_parser("import", help="write manifests for live assistants no manifest declares",
                       description="Adoption: write a manifest (with metadata.assistantId) per live, non-system assistant that no manifest declares, "
                                   "its long prompts as files referenced with ${file:...}; then apply --adopt.")
    p.add_argument("--graph", metavar="G", help="only assistants of this graph")
    p.add_argument("--out", metavar="DIR", default="imported", help="folder to write manifests into (default: ./imported)")
    p.add_argument("--inline", action="store_true",
                   help="keep multi-line strings of more than 5 lines in the manifest (default: prompt files in DIR/prompts/)")
    p.add_argument("-p", "--path", action="append", dest="paths", metavar="PATH", help="existing manifests, to skip what they declare (default: .)")
    _common(p)

    p = sub.add_parser("schema", help="write the JSON Schemas of manifests and controller.yaml",
                       description="Generate schemas/assistant.schema.json and schemas/config.schema.json from the models.")
    p.add_argument("--out", metavar="DIR", default="schemas", help="folder (default: ./schemas)")
    _common(p, target=False)
    for name, command in sub.choices.items():
        command.epilog = docs(SECTIONS.get(name, "Commands"))
    return parser
