"""The feed's published JSON Schemas (draft 2020-12): one for the envelope every event
comes in, one for each event type's ``data``, generated from the classes themselves
(``aggregates/events.py``), never written by hand (ADR 0034).

A type's schema is its payload fields (``payload_fields``: the fields after the envelope)
through pydantic, with each field's docstring as its description and its personal data
marked (``x-personal``), including the form it takes once the family is erased. Its
version is the class's ``class_version``, the ``eventsourcing`` library's own number for
upcasting, shown as ``schema_version`` in every envelope. ``$id`` is the schema's URL path,
``/schemas/{type}``.

``compare`` says what a new set of schemas changes of a published one, and whether that
breaks it: tests/test_schemas.py holds the schemas to the snapshot in tests/schemas/, and
``ledger schemas write`` refreshes that snapshot.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import textwrap
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, ValidationError, create_model
from typing_extensions import TypedDict

from aggregates.errors import NotFound
from aggregates.events import PERSONAL_CONTEXT, PERSONAL_MEMBER, VOCABULARY, FamilyEvent, payload_fields
from ledger.sealing import BLANK
from queries.service import FeedEvent

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ENVELOPE = "envelope"
"""The envelope's name among the schemas: ``/schemas/envelope``."""
VERSION = "x-schema-version"
"""The keyword under which a type's schema states its version (its ``schema_version``)."""
PERSONAL = "x-personal"
"""The keyword that marks a field holding personal data (sealed at rest, erased with the family)."""

JsonSchema = TypedDict("JsonSchema", {
    "$schema": str, "$id": str, "title": str, "description": str, "type": str,
    "properties": dict[str, Any], "required": list[str], "$defs": dict[str, Any],
    "additionalProperties": bool, "x-schema-version": int,
}, total=False)
"""A JSON Schema as served (draft 2020-12): an envelope's or one event type's ``data``."""


class SchemaLink(TypedDict):
    type: str
    """The event type (``type`` in the envelope)."""
    schema_version: int
    """The version of its schema, as every envelope of that type states it."""
    url: str
    """Where its schema is served: ``/schemas/{type}``."""


class SchemaIndex(TypedDict):
    """Every published schema: the envelope's and each event type's, with its version."""

    dialect: str
    envelope: str
    """The envelope's schema: ``/schemas/envelope``."""
    types: list[SchemaLink]


def url(name: str) -> str:
    """A schema's URL path, also its ``$id`` (CloudEvents' ``dataschema`` is the
    deployment's base URL followed by it)."""
    return f"/schemas/{name}"


def index() -> SchemaIndex:
    """The envelope's schema and every event type's, with its version, in vocabulary order."""
    return SchemaIndex(dialect=DIALECT, envelope=url(ENVELOPE), types=[
        SchemaLink(type=name, schema_version=cls.class_version, url=url(name)) for name, cls in VOCABULARY.items()])


def schema(name: str) -> dict[str, Any]:
    """The envelope's schema (``envelope``) or an event type's (404 for another name)."""
    if name == ENVELOPE:
        return envelope_schema()
    cls = VOCABULARY.get(name)
    if cls is None:
        raise NotFound(f"no event type {name!r}: GET /schemas lists every type and the envelope")
    return event_schema(cls)


def published() -> dict[str, dict[str, Any]]:
    """Every schema by its name: the envelope's and each type's (what the snapshot holds)."""
    return {ENVELOPE: envelope_schema(), **{name: event_schema(cls) for name, cls in VOCABULARY.items()}}


# --- generated from the classes --------------------------------------------------------------


@cache
def envelope_schema() -> dict[str, Any]:
    """The schema of an event as the feed gives it (``FeedEvent``: the envelope, its
    position, and ``data`` as ``/schemas/{type}`` says)."""
    generated = TypeAdapter(FeedEvent).json_schema(mode="serialization")
    return {"$schema": DIALECT, "$id": url(ENVELOPE), **generated,
            "title": "Feed event", "description": (
                "An event of the feed with its envelope. data follows the schema of the event's type, "
                "/schemas/{type}, at the version schema_version names. The context's "
                f"{', '.join(PERSONAL_CONTEXT)} are personal data: \"[erased]\" once the family is erased.")}


@cache
def event_schema(cls: type[FamilyEvent]) -> dict[str, Any]:
    """The schema of an event type's ``data``, from the class's payload fields."""
    hints = typing.get_type_hints(cls, include_extras=True)
    docs = _field_docs(cls)
    fields: dict[str, Any] = {}
    for name, f in payload_fields(cls).items():
        annotation, notes, extra = hints[name], [docs.get(name, "")], None
        if name in cls.personal:
            annotation = _erasable(annotation)
            extra = {PERSONAL: True}
            notes.append(f"Personal data: reads as {_erased_as(hints[name])} once the family's personal data "
                         "is erased.")
        elif name == "members":
            notes.append(f"Each member's {', '.join(PERSONAL_MEMBER)} are personal data (\"[erased]\" text and "
                         "null dates once the family's personal data is erased).")
        described: dict[str, Any] = {"description": " ".join(n for n in notes if n) or None,
                                     "json_schema_extra": extra}
        if f.default is not dataclasses.MISSING:
            spec = Field(default=f.default, **described)
        elif f.default_factory is not dataclasses.MISSING:
            spec = Field(default_factory=f.default_factory, **described)
        else:
            spec = Field(**described)
        fields[name] = (annotation, spec)
    generated = create_model(cls.__name__, **fields).model_json_schema(mode="serialization")
    own_doc = cls.__dict__.get("__doc__") or ""
    if own_doc.startswith(f"{cls.__name__}("):  # the signature a dataclass writes when there is no docstring
        own_doc = ""
    paragraphs = inspect.cleandoc(own_doc).split("\n\n") if own_doc else []
    doc = {"description": "\n\n".join(" ".join(p.split()) for p in paragraphs)} if own_doc else {}
    generated.pop("description", None)
    return {"$schema": DIALECT, "$id": url(cls.__name__), **generated, **doc, VERSION: cls.class_version}


def _field_docs(cls: type) -> dict[str, str]:
    """The docstrings written under a class's fields (``name: type`` then ``\"\"\"...\"\"\"``)."""
    found: dict[str, str] = {}
    for klass in reversed([k for k in cls.__mro__ if issubclass(k, FamilyEvent)]):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):  # pragma: no cover - a class made at run time
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for stmt, after in itertools.pairwise(body):
            if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                found[stmt.target.id] = " ".join(inspect.cleandoc(after.value.value).split())
    return found


def _kinds(annotation: Any) -> Iterator[str]:
    """The sealing kinds (``ledger.sealing``) a value of ``annotation`` is sealed as."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _kinds(typing.get_args(annotation)[0])
    elif origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _kinds(arg)
    elif annotation is type(None):
        yield "none"
    elif annotation is str or origin is Literal:
        yield "str"
    elif isinstance(annotation, type) and issubclass(annotation, date) and not issubclass(annotation, datetime):
        yield "date"
    elif annotation in (list, tuple) or origin in (list, tuple):
        yield "list"
    elif annotation is dict or origin is dict:
        yield "dict"


def _erasable(annotation: Any) -> Any:
    """``annotation`` widened to hold what the field reads as once its family is erased
    (a date reads as null, text as "[erased]"), where it does not already."""
    adapter = TypeAdapter(annotation)
    for kind in dict.fromkeys(_kinds(annotation)):
        blank = BLANK[kind]
        try:
            adapter.validate_python(blank)
        except ValidationError:
            if blank is None:
                annotation = annotation | None
            elif isinstance(blank, (list, dict)):  # an empty one (a Literal cannot hold either)
                annotation = Union[annotation, Annotated[type(blank), Field(max_length=0)]]  # noqa: UP007
            else:
                annotation = Union[annotation, Literal[blank]]  # noqa: UP007
    return annotation


def _erased_as(annotation: Any) -> str:
    shown = {"str": '"[erased]"', "date": "null", "list": "an empty list", "dict": "an empty object", "none": "null"}
    return " or ".join(dict.fromkeys(shown[k] for k in _kinds(annotation))) or "erased"


# --- what a change breaks --------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One difference between a published schema and the one the classes give now."""

    name: str
    """The type (or ``envelope``)."""
    what: str
    breaking: bool

    def __str__(self) -> str:
        return f"{self.name}: {self.what}"


ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$comment", "deprecated", "$id", "$schema"})
"""Keywords that describe and do not constrain: a change to them breaks nothing."""


def compare(old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]) -> list[Change]:
    """What ``new`` changes of ``old`` (each: name -> schema), each change said to break
    the published schema or not. Breaking: a type or field removed (or renamed), a field's
    type changed, a field made required or added as required, an optional field added
    without a plain default (events stored before it would have no value for it), the
    version lowered. Not breaking, once the version is raised; nor, at any version, an
    optional field added with a default, a code added to a field's list of codes, or a
    description changed. A type whose schema changed at all needs the snapshot refreshed."""
    changes: list[Change] = []
    for name in old.keys() - new.keys():
        changes.append(Change(name, "removed: its stored events could no longer be read", True))
    for name in new.keys() - old.keys():
        changes.append(Change(name, "new: not in the snapshot yet", False))
    for name in [n for n in new if n in old]:
        before, after = old[name], new[name]
        was, now = int(before.get(VERSION, 1)), int(after.get(VERSION, 1))
        if now < was:
            changes.append(Change(name, f"schema_version went down from {was} to {now}", True))
            continue
        found = list(_breaks(before, after))
        if found and now == was:
            upcast = f"upcast_v{now}_v{now + 1}"
            advice = ("bump schema_version of " + name + f" (class_version = {now + 1}) and add an upcaster "
                      f"({upcast}) so its stored events stay readable" if name != ENVELOPE else
                      "every consumer reads the envelope: keep its fields and add new ones beside them")
            changes.append(Change(name, f"{'; '.join(found)}: {advice}", True))
        elif dict(before) != dict(after):
            why = f"schema_version {was} -> {now}" if now > was else "a compatible change"
            changes.append(Change(name, f"changed ({why}): the snapshot is out of date", False))
    return sorted(changes, key=lambda c: (not c.breaking, c.name))


def _breaks(old: Mapping[str, Any], new: Mapping[str, Any], *, shaped: bool = False) -> Iterator[str]:
    """What ``new`` breaks of ``old`` (an object's schema), in words; ``shaped``: both have
    been through ``_shape`` already (an object within a schema)."""
    before, after = (old, new) if shaped else (_shape(old, old), _shape(new, new))
    was_fields, now_fields = before.get("properties", {}), after.get("properties", {})
    was_required, now_required = set(before.get("required", ())), set(after.get("required", ()))
    for field, was in was_fields.items():
        if field not in now_fields:
            yield f"removes {field}"
            continue
        if not _compatible(was, now_fields[field]):
            yield f"changes the type of {field}"
        if field in now_required and field not in was_required:
            yield f"makes {field} required"
    for field in now_fields.keys() - was_fields.keys():
        if field in now_required:
            yield f"adds {field} as a required field"
        elif not shaped and "default" not in new.get("properties", {}).get(field, {}):
            yield f"adds {field} without a plain default (events stored before it have no value for it)"
    rest = {"properties", "required", "$defs"}
    if {k: v for k, v in before.items() if k not in rest} != {k: v for k, v in after.items() if k not in rest}:
        yield "changes the schema's own constraints"


def _compatible(was: Any, now: Any) -> bool:
    """Whether every value ``was`` allows, ``now`` allows, and ``now`` allows no other
    values than those, but for more codes in a list of codes."""
    if was == now:
        return True
    if isinstance(was, dict) and isinstance(now, dict) and "properties" in was and "properties" in now:
        # an object within (the envelope's actor): held to the rules of a type's fields
        return not any(True for _ in _breaks(was, now, shaped=True))
    if isinstance(was, dict) and isinstance(now, dict) and was.keys() == now.keys():
        if "enum" in was:
            return set(map(repr, was["enum"])) <= set(map(repr, now["enum"])) and all(
                was[k] == now[k] for k in was if k != "enum")
        return all(_compatible(was[k], now[k]) for k in was)
    if isinstance(was, list) and isinstance(now, list) and len(was) == len(now):
        return all(_compatible(a, b) for a, b in zip(was, now, strict=True))
    return False


def _shape(node: Any, root: Mapping[str, Any], depth: int = 0) -> Any:
    """A schema with its references inlined and its annotations (and ``x-`` keywords) left
    out: what it allows, to compare."""
    if depth > 50:  # pragma: no cover - the generated schemas do not refer to themselves
        raise ValueError("schema nests too deeply")
    if isinstance(node, list):
        return [_shape(item, root, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node and str(node["$ref"]).startswith("#/$defs/"):
        return _shape(root.get("$defs", {})[node["$ref"].removeprefix("#/$defs/")], root, depth + 1)
    shaped: dict[str, Any] = {}
    for key, value in node.items():
        if key in ANNOTATIONS or key.startswith("x-") or key == "$defs":
            continue
        if key in ("properties", "patternProperties"):
            shaped[key] = {name: _shape(sub, root, depth + 1) for name, sub in value.items()}
        else:
            shaped[key] = _shape(value, root, depth + 1)
    return shaped
