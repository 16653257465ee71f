"""The manifest format: pydantic models for ``kind: Assistant``, ``kind: Defaults`` and ``kind: Config``.

Models forbid unknown fields, so a typo (``confg``) is an error with a did-you-mean
instead of a setting silently ignored. Rules that would make an assistant that can
never converge on the server (both ``configurable`` and ``context``, keys the server
strips) are validated here too, before anything talks to a target.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from controller.core.content import KEY_PREFIX, OWNER_PATTERN, RESERVED_CONFIGURABLE_KEYS, RESERVED_METADATA_KEYS
from controller.core.durations import DURATION_PATTERN, format_duration, parse_duration
from controller.core.paths import parse_path
from controller.core.suggest import did_you_mean

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    Field(json_schema_extra={"type": "string", "pattern": DURATION_PATTERN}),
]


def _reserved(keys: list[str]) -> str:
    it = "this key" if len(keys) == 1 else "these keys"
    return f"{', '.join(keys)}: reserved by the Agent Server (it silently drops {it}, so the assistant would never converge)"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


MATCHERS = ("equals", "contains", "matches", "exists", "schema")


class Expect(Strict):
    """One assertion on a run's output values."""

    path: str = Field(description="Dot/index path into the output, e.g. messages[-1].content; '' is the whole output")
    equals: Any = Field(None, description="The value at path equals this (structurally)")
    contains: Any = Field(None, description="The string contains this substring, or the list/dict contains this item/key")
    matches: str | None = Field(None, description="The string matches this regular expression (re.search)")
    exists: bool | None = Field(None, description="true: the path exists; false: it does not")
    json_schema: dict[str, Any] | None = Field(None, alias="schema", description="The value validates against this JSON Schema")

    @field_validator("path")
    @classmethod
    def _path_parses(cls, path: str) -> str:
        parse_path(path)  # a malformed path is an error at load time, not a puzzling "not found" later
        return path

    @model_validator(mode="after")
    def _one_matcher(self) -> Expect:
        given = [m for m in MATCHERS if (m if m != "schema" else "json_schema") in self.model_fields_set]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of {', '.join(MATCHERS)} (got {', '.join(given) or 'none'})"
            )
        if self.matches is not None:
            try:
                re.compile(self.matches)
            except re.error as exc:
                raise ValueError(f"matches: invalid regular expression: {exc}") from None
        if self.json_schema is not None:
            from jsonschema.exceptions import SchemaError
            from jsonschema.validators import validator_for

            try:
                validator_for(self.json_schema).check_schema(self.json_schema)
            except SchemaError as exc:
                raise ValueError(f"schema: invalid JSON Schema: {exc.message}") from None
        return self

    @property
    def matcher(self) -> str:
        return next(m for m in MATCHERS if (m if m != "schema" else "json_schema") in self.model_fields_set)

    @property
    def expected(self) -> Any:
        return getattr(self, "json_schema" if self.matcher == "schema" else self.matcher)


class Step(Strict):
    """One run of a multi-turn case; all steps of a case share one fresh thread."""

    input: Any = Field(description="The run's input (graph state update)")
    expect: list[Expect] = Field(default_factory=list)


def _check_config(config: dict[str, Any]) -> dict[str, Any]:
    """The checks the server applies to a config (and the keys it strips), for an assistant or a run."""
    if "configurable" in config and not isinstance(config["configurable"], dict):
        raise ValueError("configurable: must be a mapping")
    if "tags" in config and (
        not isinstance(config["tags"], list) or not all(isinstance(t, str) for t in config["tags"])
    ):
        raise ValueError("tags: must be a list of strings")
    if "recursion_limit" in config and (
        isinstance(config["recursion_limit"], bool) or not isinstance(config["recursion_limit"], int)
    ):
        raise ValueError("recursion_limit: must be an integer")
    reserved = sorted(RESERVED_CONFIGURABLE_KEYS & set(config.get("configurable") or {}))
    if reserved:
        raise ValueError(f"configurable: {_reserved(reserved)}")
    return config


def _check_context(context: dict[str, Any]) -> dict[str, Any]:
    reserved = sorted(RESERVED_CONFIGURABLE_KEYS & set(context))
    if reserved:
        raise ValueError(_reserved(reserved))
    return context


#: A config or context as the server takes it, for an assistant (Spec) or a run (RunOverrides).
ServerConfig = Annotated[dict[str, Any], AfterValidator(_check_config)]
ServerContext = Annotated[dict[str, Any], AfterValidator(_check_context)]


def _check_not_both(config: dict[str, Any], context: dict[str, Any]) -> None:
    if config.get("configurable") and context:
        raise ValueError("context: give config.configurable or context, not both (the Agent Server refuses both with 400)")


class RunOverrides(Strict):
    """A run's own configuration, merged over the assistant's as the Agent Server merges a
    run's (top-level config shallowly, ``configurable`` and ``context`` key by key). Smoke
    and evaluation cases have it."""

    config: ServerConfig = Field(default_factory=dict, description="This run's config, over the assistant's (e.g. configurable.model: a local stub)")
    context: ServerContext = Field(default_factory=dict, description="This run's context, over the assistant's")

    @model_validator(mode="after")
    def _not_both(self) -> RunOverrides:
        _check_not_both(self.config, self.context)
        return self


class SmokeCase(RunOverrides):
    """A run (or several on one thread) that must pass for a change to stand."""

    name: str = Field(min_length=1)
    input: Any = Field(None, description="The run's input; use steps for several runs on one thread")
    steps: list[Step] | None = Field(None, min_length=1)
    expect: list[Expect] = Field(default_factory=list)
    timeout: Duration = Field(60.0, description="Per run, e.g. 30s or 2m (default 60s)")

    @model_validator(mode="after")
    def _input_or_steps(self) -> SmokeCase:
        has_input = "input" in self.model_fields_set
        if has_input == (self.steps is not None):
            raise ValueError("give exactly one of input or steps")
        if self.steps is not None and self.expect:
            raise ValueError("expect: with steps, put expect under each step")
        return self

    def runs(self) -> list[Step]:
        """The case as steps: a single-input case is one step."""
        return self.steps if self.steps is not None else [Step(input=self.input, expect=self.expect)]


class EvalCase(RunOverrides):
    """One case of an evaluation: an input, what a good answer looks like, and matchers of
    its own. Datasets hold these too (a YAML list or JSON Lines), validated alike."""

    name: str | None = Field(None, min_length=1, description="Shown in reports and JUnit (default: case N)")
    input: Any = Field(description="The run's input (graph state update)")
    reference: Any = Field(None, description="What a good answer looks like: read by exact, trajectory "
                                             "(reference.trajectory), judges and python evaluators")
    expect: list[Expect] = Field(default_factory=list, description="Matchers for this case only, on every run of it")


EVALUATOR_KINDS = ("expect", "exact", "trajectory", "judge", "python")
#: ``evals/score.py:tone_ok``: a Python file under the project root and a function in it.
PYTHON_REF = r"^[^:\s][^:]*\.py:[A-Za-z_][A-Za-z0-9_]*$"


class TrajectoryEvaluator(Strict):
    """The run's tool calls (its final ``messages``) against ``reference.trajectory``."""

    match: Literal["strict", "unordered", "subset", "superset"] = Field(
        "strict", description="strict: the same calls in order; unordered: the same calls in any order; "
                              "subset: no call the reference lacks; superset: every call of the reference")


class JudgeEvaluator(Strict):
    """A declared assistant grades each run: input {input, output, reference}, output {score, comment}."""

    assistant: str = Field(pattern=NAME_PATTERN, description="metadata.name of a declared assistant")
    minScore: float = Field(0.5, ge=0, le=1, description="The score (0-1) a run needs (default 0.5)")


class Evaluator(Strict):
    """One way to grade every run of an eval: give exactly one kind."""

    expect: list[Expect] | None = Field(None, description="Smoke matchers on the output")
    exact: str | None = Field(None, description="The output at this path equals the case's reference at this path")
    trajectory: TrajectoryEvaluator | None = None
    judge: JudgeEvaluator | None = None
    python: str | None = Field(None, pattern=PYTHON_REF, description="path.py:function under the project root: "
                                                                     "f(input, output, reference) -> bool | float | {score, comment}")
    minScore: float | None = Field(None, ge=0, le=1, description="python: the score a run needs (default 0.5)")

    @model_validator(mode="before")
    @classmethod
    def _known_kind(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key not in (*EVALUATOR_KINDS, "minScore"):
                    hint = did_you_mean(str(key), EVALUATOR_KINDS) or f" (expected one of {', '.join(EVALUATOR_KINDS)})"
                    raise ValueError(f"unknown evaluator kind {key!r}{hint}")
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> Evaluator:
        given = [k for k in EVALUATOR_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(EVALUATOR_KINDS)} (got {', '.join(given) or 'none'})")
        if self.exact is not None:
            parse_path(self.exact)
        if self.minScore is not None and self.python is None:
            raise ValueError("minScore: only for python evaluators (a judge has its own: judge.minScore)")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in EVALUATOR_KINDS if getattr(self, k) is not None)

    @property
    def label(self) -> str:
        """How reports name it: ``expect``, ``exact answer``, ``trajectory unordered``, ``judge grader``, ``python f.py:g``."""
        detail = {"exact": self.exact, "trajectory": self.trajectory.match if self.trajectory else None,
                  "judge": self.judge.assistant if self.judge else None, "python": self.python}.get(self.kind)
        return f"{self.kind} {detail}" if detail else self.kind


class Gate(Strict):
    """When an eval passes: every bar given must hold."""

    passRate: float = Field(1.0, ge=0, le=1, description="The share of runs that pass every evaluator must be at least this (default 1)")
    maxRegression: float | None = Field(
        None, ge=0, le=1,
        description="Refuse when the pass rate is lower than the active version's (same cases and repeats) by more than "
                    "this, with 95% one-sided confidence")
    p95Latency: Duration | None = Field(None, description="The 95th percentile of run durations must be at most this")


class EvalSpec(Strict):
    """An evaluation: a dataset of cases, run ``repeat`` times each, graded, and gated."""

    name: str = Field(min_length=1)
    dataset: str | None = Field(None, min_length=1, description="Cases file relative to this manifest: a YAML list, or JSON Lines (.jsonl)")
    cases: list[EvalCase] | None = Field(None, min_length=1, description="Inline cases, instead of a dataset")
    repeat: int = Field(1, ge=1, le=1000, description="Runs per case (default 1)")
    evaluators: list[Evaluator] = Field(default_factory=list)
    gate: Gate = Field(default_factory=lambda: Gate.model_validate({}))
    concurrency: int = Field(8, ge=1, le=64, description="Runs in flight at once (default 8)")
    timeout: Duration = Field(60.0, description="Per run, e.g. 30s or 2m (default 60s); a run that takes longer fails")

    @model_validator(mode="after")
    def _dataset_or_cases(self) -> EvalSpec:
        if (self.dataset is None) == (self.cases is None):
            raise ValueError("give exactly one of dataset or cases")
        return self


def _unique_names(items: list[Any], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            raise ValueError(f"two {what} are named {item.name!r}; reports and JUnit need unique names")
        seen.add(item.name)


class ManifestMetadata(Strict):
    name: str = Field(
        pattern=NAME_PATTERN,
        description="Identity within the owner: lowercase letters, digits and '-', 1-63 characters",
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Free-form; select with -l key=value")
    assistantId: str | None = Field(
        None,
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        description="Take over this existing assistant id (written by import)",
    )


class Spec(Strict):
    graph: str = Field(min_length=1, description="graph_id on the target")
    displayName: str | None = Field(None, min_length=1, description="The assistant's name; default metadata.name")
    description: str | None = None
    config: ServerConfig = Field(default_factory=dict, description="The assistant's config (usually configurable)")
    context: ServerContext = Field(default_factory=dict, description="For graphs with a context_schema; instead of config.configurable")
    metadata: dict[str, Any] = Field(default_factory=dict, description="User metadata stored on the assistant")
    activeVersion: Literal["latest"] | Annotated[int, Field(ge=1)] = Field(
        "latest", description="'latest', or a version number to pin"
    )
    smoke: list[SmokeCase] = Field(default_factory=list)
    evals: list[EvalSpec] = Field(default_factory=list, description="Evaluations: datasets of cases, graded and gated")

    @field_validator("activeVersion", mode="before")
    @classmethod
    def _no_bool(cls, v: Any) -> Any:
        if v == "latest" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            return v
        raise ValueError(f"must be 'latest' or a positive integer, got {v!r}")

    @field_validator("smoke")
    @classmethod
    def _unique_case_names(cls, cases: list[SmokeCase]) -> list[SmokeCase]:
        _unique_names(cases, "smoke cases")
        return cases

    @field_validator("evals")
    @classmethod
    def _unique_eval_names(cls, evals: list[EvalSpec]) -> list[EvalSpec]:
        _unique_names(evals, "evals")
        return evals

    @field_validator("metadata")
    @classmethod
    def _metadata_keys(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        reserved = sorted(RESERVED_METADATA_KEYS & set(metadata))
        if reserved:
            raise ValueError(_reserved(reserved))
        managed = sorted(k for k in metadata if k.startswith(KEY_PREFIX))
        if managed:
            raise ValueError(f"{', '.join(managed)}: the controller/ prefix is reserved for the controller's own keys")
        if metadata.get("created_by") == "system":
            raise ValueError("created_by: 'system' is reserved: it marks the server's default assistants, which are never managed")
        return metadata

    @model_validator(mode="after")
    def _configurable_or_context(self) -> Spec:
        _check_not_both(self.config, self.context)
        return self


class AssistantManifest(Strict):
    """One assistant, declared (``kind: Assistant``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"title": "assistant-controller Assistant manifest"},
    )
    apiVersion: Literal["assistant-controller/v1"]
    kind: Literal["Assistant"]
    metadata: ManifestMetadata
    spec: Spec

    @property
    def name(self) -> str:
        return self.metadata.name


def _without_pin(schema: dict[str, Any]) -> None:
    schema.get("properties", {}).pop("activeVersion", None)


class DefaultsSpec(Spec):
    """What a Defaults document gives the assistants it selects: any spec field but a version
    pin (which belongs to one assistant); the graph too, so it is optional here."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra=_without_pin)
    graph: str | None = Field(None, min_length=1, description="graph_id on the target")  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _no_pin(cls, data: Any) -> Any:
        if isinstance(data, dict) and "activeVersion" in data:
            raise ValueError("activeVersion: a version pin belongs to one assistant; set it in that assistant's manifest")
        return data


class DefaultsSelector(Strict):
    matchLabels: dict[str, str] = Field(
        default_factory=dict, description="Assistants whose labels include all of these; empty: every assistant")


class DefaultsMetadata(Strict):
    name: str = Field(pattern=NAME_PATTERN, description="Names these defaults in messages: lowercase letters, digits and '-'")


class DefaultsManifest(Strict):
    """Shared defaults (``kind: Defaults``), merged under every assistant the selector picks:
    maps key by key (the assistant's own value wins), smoke and evals appended, other lists
    replaced by the assistant's."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"title": "assistant-controller Defaults"})
    apiVersion: Literal["assistant-controller/v1"]
    kind: Literal["Defaults"]
    metadata: DefaultsMetadata
    selector: DefaultsSelector | None = Field(None, description="Which assistants; absent or empty: every assistant")
    spec: DefaultsSpec = Field(default_factory=DefaultsSpec)  # type: ignore[arg-type]


class TargetConfig(Strict):
    """One place assistants live: an embedded SQLite file or a remote Agent Server."""

    embedded: str | None = Field(None, description="Path of the SQLite file (relative to controller.yaml)")
    graphs: str | None = Field(None, description="langgraph.json for the embedded target")
    url: str | None = Field(None, pattern=r"^https?://", description="Agent Server base URL")
    apiKeyEnv: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Environment variable holding the API key")
    values: dict[str, str] = Field(default_factory=dict, description="${NAME} values for this target (before the environment)")
    smoke: Literal["after", "before"] | None = None
    maxDeletes: int | None = Field(None, ge=0)
    concurrency: int | None = Field(None, ge=1, le=64)
    writeTimeout: float | None = Field(
        None, gt=0, le=3600,
        description="Seconds a write waits for the server's answer (default 120; reads wait 30). "
                    "A write that times out is watched for twice as long before apply calls its outcome unknown",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> TargetConfig:
        if (self.embedded is None) == (self.url is None):
            raise ValueError("give exactly one of embedded or url")
        if self.url is not None and self.graphs is not None:
            raise ValueError("graphs: only for embedded targets (a server knows its graphs)")
        if self.embedded is not None and self.writeTimeout is not None:
            raise ValueError("writeTimeout: only for url targets (an embedded write does not time out)")
        return self


class ControllerConfig(Strict):
    """controller.yaml (``kind: Config``): owner and targets."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"title": "assistant-controller controller.yaml"},
    )
    apiVersion: Literal["assistant-controller/v1"]
    kind: Literal["Config"]
    owner: str | None = Field(None, pattern=OWNER_PATTERN)
    defaultTarget: str | None = None
    targets: dict[str, TargetConfig] = Field(default_factory=dict)
    #: Webhook that `controller watch` POSTs applied, rolled-back, drift and error events to
    #: (``--notify-url`` overrides it). It may hold a token, so it is never printed.
    notify: str | None = None
    plain: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = Field(
        default_factory=list,
        description="Variables whose values are not secret (MODEL, REGION): a string built from them and the target's "
                    "values is shown in plans, diffs and output. Any other ${VAR} is masked as (sensitive)",
    )

    @model_validator(mode="after")
    def _default_exists(self) -> ControllerConfig:
        if self.defaultTarget is not None and self.defaultTarget not in self.targets:
            raise ValueError(
                f"defaultTarget: {self.defaultTarget!r} is not one of the targets ({', '.join(self.targets) or 'none'})"
            )
        return self
