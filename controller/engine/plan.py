"""The planner: desired × observed → Plan. A pure function: no I/O, no clock.

Like a Terraform plan, the result is a value: it can be printed (render.py), saved
(planfile.py) and applied exactly (apply.py), which never recomputes intent. Every
action carries the active version the planner saw, so applying a plan against a
target that moved since is refused instead of overwriting someone's change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from controller.core.content import CANDIDATE_KEY, NAME_KEY, OWNER_KEY, Content, same_content, with_removals
from controller.core.errors import InvalidInput, Problem
from controller.core.suggest import did_you_mean
from controller.engine.desired import Declaration, Declared, Desired, secrets_of
from controller.engine.unique import check_unique_configs
from controller.targets.base import AssistantState, GraphInfo
from controller.targets.profiles import ServerProfile

#: What a target's set-active makes of a version over the live content (``ServerProfile.predict_set_active``).
Predict = Callable[[Content, Content], Content]
Action = Literal["create", "update", "repin", "delete", "noop"]
ACTIONS: tuple[Action, ...] = ("create", "update", "repin", "delete", "noop")


@dataclass(frozen=True)
class Change(Declared):
    """One assistant's action. ``content`` is exactly what apply writes (create/update)."""

    action: Action
    declared: Declaration
    #: Active version seen at plan time (None: no assistant with this id).
    seen_version: int | None = None
    #: Live content at plan time (None for create).
    before: Content | None = None
    #: Content after the change: what create/update writes, or the repinned version's content.
    content: Content | None = None
    #: For repin: the version made active.
    to_version: int | None = None
    adopt: bool = False
    warnings: tuple[str, ...] = ()
    #: Why: "content changed", "drift", "pinned to v3", ...
    reason: str = ""
    #: Ids of the changes whose writes must land first: on a server that allows one assistant
    #: per graph and config, the ones that free the config this one takes (engine/unique.py).
    after: tuple[str, ...] = ()
    #: The field diff as it was reviewed, for a saved plan: shown as it was, never recomputed
    #: (the saved plan keeps no secret, so its masked "before" would differ from a new diff).
    reviewed: tuple[dict[str, Any], ...] | None = None

    @property
    def writes(self) -> bool:
        return self.action != "noop"

    @classmethod
    def noop(cls, declared: Declaration, seen_version: int) -> Change:
        """A noop whose contents are not at hand (a recorded file's assistant, engine/synced.py),
        made without the generated ``__init__``: a plan of 10,000 of them makes one each."""
        made = object.__new__(cls)
        made.__dict__.update(_CHANGE_DEFAULTS, action="noop", declared=declared, seen_version=seen_version)
        return made

    @property
    def secrets(self) -> set[str]:
        """The values at sensitive paths of the new content *and* of the live one."""
        return secrets_of(self.sensitive, self.content, self.before)


_CHANGE_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Change) if f.default is not dataclasses.MISSING}


@dataclass(frozen=True)
class Plan:
    owner: str
    target: str
    changes: tuple[Change, ...]
    prune: bool = False
    warnings: tuple[str, ...] = ()
    #: How the owner was chosen (settings.py: ``--owner``, ``controller.yaml``, ...), for the header.
    owner_source: str = ""

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def has_changes(self) -> bool:
        return any(c.writes for c in self.changes)

    def summary(self) -> str:
        return (
            f"Plan: {self.count('create')} to create, {self.count('update')} to update, "
            f"{self.count('repin')} to repin, {self.count('delete')} to delete."
        )


def needs_versions(desired: Iterable[Desired], observed: Mapping[str, AssistantState]) -> list[str]:
    """Assistants whose version history the planner needs: content differs, or a pin moves.

    A no-op plan needs none, so it costs only the listing calls on a remote target.
    """
    out = []
    for d in desired:
        live = observed.get(d.assistant_id)
        if live is None:
            continue
        if (d.pin is not None and d.pin != live.version) or (d.pin is None and not matches(live, d)):
            out.append(d.assistant_id)
    return out


def matches(live: AssistantState, d: Desired) -> bool:
    """Is the live content the desired one? By hash when the target keeps one (equal
    hashes are proof; unequal ones are checked in full)."""
    if live.content_hash is not None and live.content_hash == d.content_hash:
        return True
    return same_content(live.content, d.content)


def make_plan(
    desired: list[Desired],
    observed: Mapping[str, AssistantState],
    owned: Iterable[AssistantState],
    graphs: Mapping[str, GraphInfo],
    *,
    owner: str,
    target: str,
    profile: ServerProfile,
    prune: bool = False,
    adopt: bool = False,
    others: Iterable[AssistantState] = (),
) -> Plan:
    """Decide each assistant's action. Raises InvalidInput listing every problem found.

    ``profile``: what the target can do and how it differs (targets/profiles.py): what its
    set-active restores, and whether it allows one assistant per graph and config.
    ``others``: other owners' assistants named like ones this plan creates (one warning line)."""
    problems: list[Problem] = []
    warnings: list[str] = []
    changes: list[Change] = []
    broken: set[str] = set()  # graphs that failed to load: reported at their first manifest only
    for d in desired:
        graph = graphs.get(d.content.graph_id)
        if graph is not None and graph.error:
            if graph.graph_id not in broken:
                broken.add(graph.graph_id)
                problems.extend(check_against_graph(d, graphs, warnings))
        else:
            problems.extend(check_against_graph(d, graphs, warnings))
        change = _plan_one(d, observed.get(d.assistant_id), owner, profile.predict_set_active, adopt, problems)
        if change is not None:
            changes.append(change)
    undeclared = _undeclared(desired, owned, owner)
    if prune:
        for live in undeclared:
            name = live.content.metadata.get(NAME_KEY) or live.assistant_id
            changes.append(Change("delete", Declaration(name, live.assistant_id), seen_version=live.version,
                                  before=live.content, reason="no longer declared"))
    changes, clashes = check_unique_configs(desired, changes, [] if prune else undeclared, profile)
    problems.extend(clashes)
    if problems:
        raise InvalidInput(problems, warnings)
    warnings.extend(_owner_changed(changes, others))
    return Plan(owner=owner, target=target, changes=tuple(changes), prune=prune, warnings=tuple(warnings))


def _undeclared(desired: list[Desired], owned: Iterable[AssistantState], owner: str) -> list[AssistantState]:
    """The owner's assistants no manifest declares (what ``--prune`` deletes), by name."""
    declared = {d.assistant_id for d in desired}
    return [live for live in sorted(owned, key=lambda s: (s.content.metadata.get(NAME_KEY) or "", s.assistant_id))
            if live.assistant_id not in declared and not live.content.is_system and live.content.owner == owner
            and CANDIDATE_KEY not in live.content.metadata]  # a leftover smoke candidate is not the one it stands for


def _owner_changed(changes: list[Change], others: Iterable[AssistantState]) -> list[str]:
    """One line per other owner holding assistants with the names this plan creates."""
    created = {c.name for c in changes if c.action == "create"}
    by_owner: dict[str, set[str]] = {}
    for a in others:
        name = a.content.metadata.get(NAME_KEY)
        if name in created and a.content.owner:
            by_owner.setdefault(a.content.owner, set()).add(name)
    lines = []
    for other, names in sorted(by_owner.items()):
        shown = ", ".join(sorted(names)[:3]) + (", …" if len(names) > 3 else "")
        these = f"{len(names)} assistants with these names ({shown}) belong" if len(names) > 1 else \
            f"1 assistant with this name ({shown}) belongs"
        lines.append(f"{these} to owner {other!r}: did the owner change? To retire them: controller destroy --owner {other}")
    return lines


def destroy_plan(owned: Iterable[AssistantState], *, owner: str, target: str) -> Plan:
    """Every assistant of ``owner`` deleted (its leftover smoke candidates too; never the server's
    system assistants): `controller destroy`, how a retired owner or a per-pull-request preview
    (``apply --owner pr-42``) is torn down."""
    changes = [Change("delete", Declaration(str(a.content.metadata.get(NAME_KEY) or a.assistant_id), a.assistant_id),
                      seen_version=a.version, before=a.content, reason="destroy")
               for a in sorted(owned, key=lambda s: (s.content.metadata.get(NAME_KEY) or "", s.assistant_id))
               if a.content.owner == owner and not a.content.is_system]
    return Plan(owner=owner, target=target, changes=tuple(changes), prune=True)


class _Where(Mapping[str, Any]):
    """``file`` and ``line`` of a manifest field for ``Problem(**where, ...)``, found only when a
    problem is reported: a manifest from the load store has no line map until then."""

    def __init__(self, d: Desired, path: tuple[str, ...]):
        self._d, self._path = d, path
        self._found: dict[str, Any] | None = None

    def _get(self) -> dict[str, Any]:
        if self._found is None:
            file, line = self._d.location(self._path)
            self._found = {"file": file, "line": line}
        return self._found

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(("file", "line"))

    def __len__(self) -> int:
        return 2


def _plan_one(
    d: Desired, live: AssistantState | None, owner: str, predict: Predict, adopt: bool, problems: list[Problem]
) -> Change | None:
    where = _Where(d, ("spec", "activeVersion") if d.pin is not None else ("metadata", "name"))
    if live is None:
        if d.pin is not None:
            problems.append(Problem(**where, path="spec.activeVersion",
                                    message=f"pinned to version {d.pin}, but assistant {d.name!r} does not exist yet"))
            return None
        return Change("create", d.declared, content=d.content, reason="new")
    if live.content.is_system:
        problems.append(Problem(**where, path="metadata.assistantId",
                                message=f"{d.assistant_id} is the server's default assistant for graph {live.content.graph_id!r}; it is never managed"))
        return None
    adopting = False
    if live.content.owner != owner:
        if not adopt:
            holder = f"owner {live.content.owner!r}" if live.content.owner else "no owner"
            problems.append(Problem(**where, path="metadata.name",
                                    message=f"assistant {d.assistant_id} exists with {holder}; use apply --adopt to take it over"))
            return None
        adopting = True
    seen: dict[str, Any] = {"seen_version": live.version, "before": live.content, "adopt": adopting}
    if d.pin is not None:
        return _plan_pinned(d, d.pin, live, predict, seen, where, problems)
    if matches(live, d):
        return Change("noop", d.declared, content=live.content, **seen)
    # An older version with exactly this content: move the pointer (a git revert), no new version.
    for entry in live.versions or ():
        if entry.number != live.version and same_content(entry.content, d.content):
            if faithful(predict, entry.content, live.content):
                return Change("repin", d.declared, content=entry.content, to_version=entry.number,
                              reason=f"matches version {entry.number}", **seen)
            break
    return Change("update", d.declared, content=with_removals(d.content, live.content),
                  reason="adopt" if adopting else "content differs", **seen)


def _plan_pinned(d: Desired, pin: int, live: AssistantState, predict: Predict, seen: dict[str, Any],
                 where: Mapping[str, Any], problems: list[Problem]) -> Change | None:
    """``activeVersion: N``: version N is made active whatever the manifest's content says."""
    entry = live.version_entry(pin) if live.versions is not None else None
    if pin != live.version and entry is None:
        problems.append(Problem(**where, path="spec.activeVersion",
                                message=f"version {pin} of {d.name!r} does not exist (latest is {_latest(live)})"))
        return None
    pinned = entry.content if entry else live.content
    notes = []
    if not same_content(pinned, d.content):
        notes.append(f"pinned to version {pin}: the manifest's content differs and is not applied")
    if pin == live.version:
        return Change("noop", d.declared, content=live.content, warnings=tuple(notes), reason=f"pinned to v{pin}", **seen)
    if not faithful(predict, pinned, live.content):
        notes.append("this server does not restore context/graph on repin; they stay as they are now")
    return Change("repin", d.declared, content=pinned, to_version=pin, warnings=tuple(notes),
                  reason=f"pinned to v{pin}", **seen)


def _latest(live: AssistantState) -> int:
    return max((v.number for v in live.versions or ()), default=live.version)


def faithful(predict: Predict, version: Content, live: Content) -> bool:
    """Would making ``version`` active give exactly its content on this target?"""
    return predict(version, live) == version


def check_against_graph(d: Desired, graphs: Mapping[str, GraphInfo], warnings: list[str]) -> list[Problem]:
    """Unknown graph → error; configurable/context checked against the graph's JSON Schema."""
    graph = graphs.get(d.content.graph_id)
    if graph is None or graph.error:
        # the line only when reported: finding it may parse the manifest (a stored load has no line map)
        file, line = d.location(("spec", "graph"))
        if graph is None:
            return [Problem(file, line, "spec.graph",
                            f"unknown graph {d.content.graph_id!r}; the target has: {', '.join(sorted(graphs)) or 'none'}")]
        return [Problem(file, line, "spec.graph", f"graph cannot be loaded: {graph.error}")]
    if graph.schema_error:
        note = f"graph {graph.graph_id!r}: config was not checked against this graph's schema, which could not be read: {graph.schema_error}"
        if note not in warnings:  # once per graph, not once per manifest
            warnings.append(note)
    return schema_problems(d, graph, warnings)


def _checks(d: Desired, graph: GraphInfo) -> list[tuple[tuple[str | int, ...], dict[str, Any], dict[str, Any] | None, bool]]:
    """(document path, values, schema, unknown keys are errors) for each place that sets them.

    The content is mirrored (configurable == context): it is checked where the manifest
    declared it. A ``context`` key the graph's context schema lacks is an error: the server
    drops it from every run's context (``_filter_context_by_schema``), so it could never
    take effect. A ``configurable`` key stays a warning: configurable is open by design,
    and the graph still reads it from ``config["configurable"]``.
    """
    context_schema = graph.context_schema if (graph.context_schema or {}).get("properties") else None
    checks: list[tuple[tuple[str | int, ...], dict[str, Any], dict[str, Any] | None, bool]]
    if d.declared.mirror_as == "context":
        checks = [(("spec", "context"), d.content.context, context_schema or graph.config_schema, context_schema is not None)]
    else:
        checks = [(("spec", "config", "configurable"), d.content.config.get("configurable") or {},
                   graph.config_schema or graph.context_schema, False)]
    for i, case in enumerate(d.smoke):  # a case's own overrides, checked the same way
        if case.context:
            checks.append((("spec", "smoke", i, "context"), case.context, context_schema or graph.config_schema,
                           context_schema is not None))
        elif case.config.get("configurable"):
            checks.append((("spec", "smoke", i, "config", "configurable"), case.config["configurable"],
                           graph.config_schema or graph.context_schema, False))
    return checks


def schema_problems(d: Desired, graph: GraphInfo, warnings: list[str]) -> list[Problem]:
    """``config.configurable``/``context`` (the assistant's and its smoke cases') checked
    against a graph that loaded: type mismatches and unknown context keys are problems,
    unknown configurable keys warnings."""
    problems: list[Problem] = []
    for doc_path, values, schema, strict in _checks(d, graph):
        if not values or not schema:
            continue
        errors, notes = schema_findings(values, schema)
        if strict:
            errors += [(key, message.replace("not in the graph's schema", "not in the graph's context schema", 1)
                        + "; the server drops it from the run's context, so it would never take effect")
                       for key, message in notes]
            notes = []
        for key, message in errors:
            file, line = d.location((*doc_path, *key))
            problems.append(Problem(file, line, ".".join(map(str, (*doc_path, *key))), message))
        for key, message in notes:
            file, line = d.location((*doc_path, *key))
            warnings.append(f"{file}:{line}: {'.'.join(map(str, (*doc_path, *key)))}: {message}")
    return problems


#: id(schema) → (schema, its validator): one per graph, not one per manifest. The schema is
#: kept in the value, so its id cannot be reused by another object while the entry lives.
_validators: dict[int, tuple[dict[str, Any], Any]] = {}


def schema_findings(values: dict[str, Any], schema: dict[str, Any]) -> tuple[list[tuple[tuple, str]], list[tuple[tuple, str]]]:
    """(errors, warnings): type mismatches are errors; keys the schema does not know, warnings."""
    errors: list[tuple[tuple, str]] = []
    notes: list[tuple[tuple, str]] = []
    known = set(schema.get("properties") or {})
    if known:
        for key in values:
            if key not in known:
                notes.append(((key,), f"not in the graph's schema{did_you_mean(key, known)}"))
    if _plainly_valid(values, schema):
        return errors, notes
    import jsonschema  # imported when a manifest sets values that need it (a plain check above does not)

    validator = _validators.get(id(schema))
    if validator is None or validator[0] is not schema:
        relaxed = {**schema, "additionalProperties": True}
        relaxed.pop("required", None)
        validator = _validators[id(schema)] = (schema, jsonschema.validators.validator_for(relaxed)(relaxed))
    validator = validator[1]
    for err in sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path)):
        errors.append((tuple(err.absolute_path), f"{err.message} (graph schema)"))
    return errors, notes


_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict, "array": list,
}
_ANNOTATIONS = {"title", "description", "default", "examples"}


def _plainly_valid(values: dict[str, Any], schema: dict[str, Any]) -> bool:
    """True when ``values`` obviously pass ``schema`` (relaxed as schema_findings relaxes it):
    an object schema whose properties only name a JSON type, and values of those types.
    The common case (a TypedDict of strings) skips jsonschema, which costs a plan of 10,000
    manifests about half a second; anything less plain is left to jsonschema (False)."""
    if schema.get("type") != "object" or not set(schema) <= {"type", "properties", "required", "additionalProperties", *_ANNOTATIONS}:
        return False
    properties = schema.get("properties") or {}
    for key, value in values.items():
        prop = properties.get(key)
        if prop is None:
            continue  # unknown keys are allowed here (warned about separately)
        if not isinstance(prop, dict) or not set(prop) <= {"type", *_ANNOTATIONS}:
            return False
        kind = prop.get("type")
        expected = _JSON_TYPES.get(kind) if isinstance(kind, str) else None
        if expected is None or not isinstance(value, expected) or (isinstance(value, bool) and prop["type"] != "boolean"):
            return False
    return True


def ownership_filter(owner: str) -> dict[str, Any]:
    return {OWNER_KEY: owner}

