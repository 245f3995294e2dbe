"""Load, validate, hash and parse process bundles; parsed specs are cached by bundle hash."""

from __future__ import annotations

import ast
import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.control import BoundaryEventJoin
from SpiffWorkflow.bpmn.specs.mixins.none_task import NoneTask
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine import sandbox
from engine.errors import InvalidProcess
from engine.process import decisions, instructions, limits, stages
from engine.process.forms import reference_errors
from engine.process.messages import MessageTemplates, compile_templates, is_template_file, message_errors
from engine.process.stages import ROOT_PROCESS_ID, StageTable
from engine.process.unset_reads import unset_read_warnings
from engine.process.validation import check_bundle, lane_errors

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
FORM_PROPERTY = "formJsonSchemaFilename"
LANE_ROLES = {
    "Reception": "reception",
    "Technician": "technician",
    "QA": "qa",
    "Customer": "customer",
    "Manager": "manager",
}
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=False)


def _is_bundle_file(path: Path, folder: Path) -> bool:
    """Process files (.bpmn, .dmn, .json) and the message templates (notifications/*.txt)."""
    name = path.relative_to(folder).as_posix()
    return path.is_file() and (path.suffix in {".bpmn", ".dmn", ".json"} or is_template_file(name))


def read_bundle_dir(root: Path | str, centre: str | None = None) -> dict[str, str]:
    """Files of the base bundle under `root`, with `variants/<centre>/` replacing stages by process id (and
    any other file, such as a message template, by name)."""
    root = Path(root)
    files = {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if _is_bundle_file(p, root) and "variants" not in p.relative_to(root).parts
    }
    if centre:
        variant_dir = root / "variants" / centre
        for p in sorted(variant_dir.rglob("*")) if variant_dir.is_dir() else []:
            if _is_bundle_file(p, variant_dir):
                files = overlay(files, p.relative_to(variant_dir).as_posix(), p.read_text(encoding="utf-8"))
    return files


def overlay(files: dict[str, str], name: str, text: str) -> dict[str, str]:
    """Add `name`; a BPMN file replaces any base file that defines the same process ids."""
    result = dict(files)
    if name.endswith(".bpmn"):
        ids = set(_process_ids(text))
        for other, other_text in files.items():
            if other.endswith(".bpmn") and other != name and ids & set(_process_ids(other_text)):
                del result[other]
    result[name] = text
    return result


def _process_ids(text: str) -> list[str]:
    try:
        root = etree.fromstring(text.encode("utf-8"), _XML_PARSER)
    except etree.XMLSyntaxError:
        return []
    return [p.get("id") for p in root.iter(f"{{{BPMN_NS}}}process")]


def bundle_hash(files: dict[str, str]) -> str:
    """A stable SHA-256 over the bundle's names and contents."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode("utf-8") + b"\0")
    return digest.hexdigest()


@dataclass
class TaskInfo:
    """What the engine needs to know about one human task spec."""

    name: str
    title: str
    lane: str | None
    process_id: str
    properties: dict
    form_file: str | None
    instructions: str | None = None  # spiffworkflow:instructionsForEndUser (engine.process.instructions)


@dataclass
class ParsedBundle:
    hash: str
    files: dict[str, str]
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]
    forms: dict[str, dict]
    tasks: dict[str, TaskInfo] = field(default_factory=dict)
    process_files: dict[str, str] = field(default_factory=dict)
    # set by engine.execution.runtime once the bundle's decision tables refuse inputs no rule matches
    strict_decisions: bool = field(default=False, compare=False, repr=False)
    # set by engine.execution.runtime once its multi-instance activities refuse more than MAX_INSTANCES instances
    capped_instances: bool = field(default=False, compare=False, repr=False)
    stages: StageTable = field(default_factory=StageTable)  # what the skeleton says about its stages
    # notifications/*.txt, compiled once with the bundle (empty: a bundle deployed before templates were bundled)
    messages: MessageTemplates = field(default_factory=MessageTemplates)
    # what a deploy accepts but tells the process owner ({file, element, line, message}): a process nothing calls
    warnings: list[dict] = field(default_factory=list, compare=False)

    def form(self, form_file: str | None) -> dict | None:
        return self.forms.get(form_file) if form_file else None


def _error(file: str, message: str, element: str | None = None, line: int | None = None) -> dict:
    return {"file": file, "element": element, "line": line, "message": message}


MAX_XML_BYTES = 2 * 1024 * 1024
_NO_DTD = (
    "a DOCTYPE (DTD) is not allowed in process files: XML entities, external or internal, "
    "are refused (XXE and entity-expansion protection)"
)


def _parse_xml(name: str, text: str, errors: list) -> etree._Element | None:
    """Parse one BPMN/DMN file; oversize files and any DTD (where entities live) are refused by name."""
    data = text.encode("utf-8")
    if len(data) > MAX_XML_BYTES:
        errors.append(_error(name, f"file is {len(data)} bytes; the limit is {MAX_XML_BYTES} bytes"))
        return None
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        at = min(i for i in (text.find("<!DOCTYPE"), text.find("<!ENTITY")) if i >= 0)
        line = text[:at].count("\n") + 1
        errors.append(_error(name, _NO_DTD, None, line))
        return None
    try:
        root = etree.fromstring(data, _XML_PARSER)
    except etree.XMLSyntaxError as exc:
        at_line, col = exc.position if exc.position else (None, None)
        errors.append(_error(name, f"malformed XML at line {at_line}, column {col}: {exc.msg}", None, at_line))
        return None
    # the text check above misses a DOCTYPE hidden by a declared encoding; the parsed tree does not
    if root.getroottree().docinfo.doctype or root.getroottree().docinfo.internalDTD is not None:
        errors.append(_error(name, _NO_DTD, None, 1))
        return None
    return root


def _schema_errors(name: str, root, schema: etree.XMLSchema, errors: list) -> None:
    if schema.validate(root):
        return
    by_line = {el.sourceline: el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    for entry in schema.error_log:
        element = _nearest_id(root, entry.path) or by_line.get(entry.line)
        errors.append(_error(name, f"XSD: {_readable(root, entry.message)}", element, entry.line))


# --- issue 15.7 and 15.9: the XSD step accepts what SpiffArena accepts, and names what it refuses --------------------

# SpiffArena checks a BPMN file with SpiffWorkflow's BpmnValidator as it comes: the BPMN 2.0 schema, under which
# extension elements (spiffworkflow:*, camunda:*, ...) are checked laxly, after the validator's own preprocessing
# (bpmn-js writes a correlation property's retrieval expression as a formalExpression). SpiffWorkflow's VALIDATOR
# also imports its spiffworkflow.xsd, stricter than the modeler that writes those elements: not used.
BPMN_VALIDATOR = BpmnValidator()


def _bpmn_schema_errors(name: str, root, errors: list) -> None:
    BPMN_VALIDATOR.preprocess(root)
    _documentation_first(root)
    if root.get("targetNamespace") is None and etree.QName(root.tag).localname == "definitions":
        # required by the schema, read by nobody (SpiffWorkflow parses without it; some modelers omit it)
        root.set("targetNamespace", "urn:unnamed")
    _schema_errors(name, root, BPMN_VALIDATOR.validator, errors)


_FIRST_CHILDREN = (f"{{{BPMN_NS}}}documentation", f"{{{BPMN_NS}}}extensionElements")


def _documentation_first(root) -> None:
    """The schema wants an element's documentation, then its extensionElements, before anything else; some
    modelers write them later. SpiffWorkflow reads them wherever they are, so their order is no error: put them
    first in the tree the schema checks (the file is kept as uploaded)."""
    for el in root.iter(*_FIRST_CHILDREN):
        parent = el.getparent()
        if parent is None:
            continue
        leading = [c for c in parent if c.tag in _FIRST_CHILDREN or not isinstance(c.tag, str)]
        if list(parent)[: len(leading)] == leading:
            continue
        ordered = sorted((c for c in parent if c.tag in _FIRST_CHILDREN), key=lambda c: _FIRST_CHILDREN.index(c.tag))
        for index, child in enumerate(ordered):
            parent.insert(index, child)


def _nearest_id(root, path: str | None) -> str | None:
    """The id of the element an XSD error is about, or of its nearest ancestor with one."""
    if not path:
        return None
    try:
        found = root.getroottree().xpath(path, namespaces={k: v for k, v in root.nsmap.items() if k})
    except (etree.XPathError, TypeError, ValueError):
        return None
    el = found[0] if isinstance(found, list) and found and isinstance(found[0], etree._Element) else None
    while el is not None and not el.get("id"):
        el = el.getparent()
    return el.get("id") if el is not None else None


def _readable(root, message: str) -> str:
    """An XSD message with `{namespace}name` written as the file writes it (`bpmn:name`)."""
    prefixes = {v: k for k, v in root.nsmap.items() if k}
    return re.sub(
        r"\{([^}]+)\}([\w.-]+)",
        lambda m: f"{prefixes[m.group(1)]}:{m.group(2)}" if m.group(1) in prefixes else m.group(0),
        message,
    )


_RAW_XML = re.compile(r",?\s*b(['\"])<.*?(?<!\\)\1\)?", re.S)
_EXCEPTION_REPR = re.compile(r"^\s*[A-Za-z]+(?:Error|Exception)\((['\"])(.*?)(?:: ?%r)?\1\)?\.?\s*$", re.S)


def plain_message(text: str) -> str:
    """A SpiffWorkflow message without Python's words: no exception repr, no element XML as bytes."""
    text = _RAW_XML.sub("", text.split("\n")[0]).strip().rstrip(":").strip()
    match = _EXCEPTION_REPR.match(text)
    if match:
        text = match.group(2).replace("%r", "").strip(" :")
        text = f"the engine does not support this construct ({text})"
    return text or "the engine cannot read this element"


def _uncalled(parser, bpmn_trees: dict, reached: set, trees: dict) -> tuple[list[dict], list[dict]]:
    """(warnings, errors) for the processes no call activity reachable from the skeleton calls: they never run,
    which the deploy answer says; their scripts are checked by the sandbox all the same."""
    warnings, errors = [], []
    executable = set(parser.get_process_ids())
    for file, root in sorted(bpmn_trees.items()):
        for process in root.iter(f"{{{BPMN_NS}}}process"):
            pid = process.get("id")
            if pid in reached:
                continue
            warnings.append(
                _error(
                    file,
                    f"process '{pid}' is called by no call activity of the skeleton '{ROOT_PROCESS_ID}' or of the "
                    "processes it calls: it never runs",
                    pid,
                    process.sourceline,
                )
            )
            if pid not in executable:
                continue
            try:
                specs = [parser.get_spec(pid), *parser.get_subprocess_specs(pid).values()]
            except (ValidationException, SpiffWorkflowException) as exc:
                errors.append(
                    _error(file, plain_message(str(exc)), getattr(exc, "id", None) or pid, process.sourceline)
                )
                continue
            for spec in specs:
                for task_spec in spec.task_specs.values():
                    errors += _sandbox_errors(task_spec, file, trees)
    return warnings, errors


def _sandbox_errors(task_spec, file: str, trees: dict) -> list[dict]:
    element = getattr(task_spec, "bpmn_id", None)
    errors = []
    for source, mode in _code_of(task_spec):
        try:
            sandbox.check(source, mode)
        except sandbox.SandboxViolation as exc:
            errors.append(_error(file, f"script refused: {exc}", element, _line_of(trees, file, element)))
    return errors


def _implicit_ends_reach_the_end(specs) -> None:
    """A flow node with no outgoing sequence flow ends its path (an implicit end event), and its (sub)process
    completes when its last path does. SpiffWorkflow connects only end events to the process's end: a task left
    without outputs completed and then nothing, so the (sub)process never completed and its caller (the skeleton's
    stage) waited for ever. Such a task goes to the end join, as an end event does. An activity with a boundary
    event is joined to its boundary events in a BoundaryEventJoin that likewise leads nowhere: the join goes there."""
    for spec in specs:
        for task_spec in list(spec.task_specs.values()):
            if task_spec.outputs or task_spec is spec.end or task_spec.name == "End":
                continue
            if isinstance(task_spec, BoundaryEventJoin):
                host = spec.task_specs.get(task_spec.name.removesuffix(".BoundaryEventJoin"))
                if host is not None and all(out is task_spec for out in host.outputs):
                    task_spec.connect(spec.end)
                continue
            task_spec.connect(spec.end)


# --- end of issue 15.7 / 15.9 -----------------------------------------------------------------------------------


_dmn_validators: dict[str, etree.XMLSchema] = {}


def _dmn_schema(namespace: str | None) -> etree.XMLSchema | None:
    key = namespace or ""
    path = DMN_SCHEMAS.get(key)
    if path and key not in _dmn_validators:
        _dmn_validators[key] = etree.XMLSchema(etree.parse(path))
    return _dmn_validators.get(key) if path else None


def _line_of(trees: dict, file: str | None, element_id: str | None) -> int | None:
    for name, root in trees.items():
        if file and name != file:
            continue
        for el in root.iter():
            if isinstance(el.tag, str) and el.get("id") == element_id:
                return el.sourceline
    return None


def _file_of(trees: dict, element_id: str | None) -> str | None:
    for name, root in trees.items():
        if element_id and any(isinstance(el.tag, str) and el.get("id") == element_id for el in root.iter()):
            return name
    return None


def parse_bundle(
    files: dict[str, str],
    message_languages: tuple[str, ...] | None = None,
    code_messages: dict[str, tuple[str, ...]] | None = None,
    url_check: Callable[[str], str | None] | None = None,
    deploy: bool = False,
) -> ParsedBundle:
    """Validate every file and parse the bundle; raise InvalidProcess listing every error found.

    With `message_languages` (a deploy), every `notifyCustomer` needs a template in each of those languages,
    and each of `code_messages` (message -> languages) its templates; a stored bundle was checked when deployed.
    With `url_check` (a deploy), a service task's literal URL that the outbound address policy refuses is an error.
    With `deploy`, what engine.process.limits refuses is an error (too many files, an unused form, a constant
    cardinality over the cap, a timer under a minute, a loop with no wait state, a pattern RE2 cannot run).
    """
    too_many = limits.file_count_error(files) if deploy else None
    if too_many is not None:  # before parsing any of them
        raise InvalidProcess(too_many["message"], [too_many])
    errors: list[dict] = []
    bpmn_trees, dmn_trees = {}, {}
    forms: dict[str, dict] = {}
    for name, text in sorted(files.items()):
        if name.endswith(".bpmn"):
            root = _parse_xml(name, text, errors)
            if root is not None:
                _bpmn_schema_errors(name, root, errors)
                bpmn_trees[name] = root
        elif name.endswith(".dmn"):
            root = _parse_xml(name, text, errors)
            if root is not None:
                schema = _dmn_schema(root.nsmap.get(None) or root.nsmap.get("dmn"))
                if schema is not None:
                    _schema_errors(name, root, schema, errors)
                dmn_trees[name] = root
        elif name.endswith(".json") and "forms" in Path(name).parts[:-1]:
            forms[Path(name).name] = _load_form(name, text, errors)
        elif name.endswith(".json"):
            _load_json(name, text, errors)
    xml_files = sum(1 for name in files if name.endswith((".bpmn", ".dmn")))
    errors += check_bundle(
        files,
        bpmn_trees,
        dmn_trees,
        forms,
        LANE_ROLES,
        complete=len(bpmn_trees) + len(dmn_trees) == xml_files,
        url_check=url_check,
    )
    decision_errors, feel_tables = decisions.read(dmn_trees, deploy)  # FEEL or Python cells (engine.process.decisions)
    errors += decision_errors
    stage_table = stages.read(bpmn_trees, errors)
    errors += stages.vocabulary_errors(bpmn_trees, stage_table)
    messages = compile_templates(files, errors)
    if message_languages is not None:
        errors += message_errors(bpmn_trees, files, message_languages, code_messages)
    if deploy:
        errors += limits.deploy_errors(files, bpmn_trees, forms)
        errors += instructions.deploy_errors(bpmn_trees)
        errors += lane_errors(bpmn_trees, LANE_ROLES)
    if errors:
        raise InvalidProcess(f"{len(errors)} error(s) in the process files", errors)

    parser = decisions.DecisionParser(feel_tables)
    trees = {**bpmn_trees, **dmn_trees}
    try:
        for name, root in bpmn_trees.items():
            parser.add_bpmn_xml(root, filename=name)
        for name, root in dmn_trees.items():
            parser.add_dmn_xml(root, filename=name)
        if ROOT_PROCESS_ID not in parser.get_process_ids():
            raise InvalidProcess(
                "no process with id 'rma' in the bundle",
                [_error("rma.bpmn", "the skeleton process 'rma' is missing", ROOT_PROCESS_ID)],
            )
        _check_called_processes(bpmn_trees, set(parser.get_process_ids()))
        spec = parser.get_spec(ROOT_PROCESS_ID)
        subprocess_specs = parser.get_subprocess_specs(ROOT_PROCESS_ID)
        _abstract_tasks_pass_through([spec, *subprocess_specs.values()])
        _implicit_ends_reach_the_end([spec, *subprocess_specs.values()])
    except ValidationException as exc:
        file = exc.file_name or _file_of(trees, exc.id) or "?"
        line = exc.line_number or _line_of(trees, exc.file_name, exc.id)
        message = plain_message(str(exc))
        raise InvalidProcess(f"{file}: {message}", [_error(file, message, exc.id or None, line)]) from None
    except SpiffWorkflowException as exc:
        message = plain_message(str(exc))
        raise InvalidProcess(message, [_error("?", message)]) from None

    bundle = ParsedBundle(
        bundle_hash(files), dict(files), spec, subprocess_specs, forms, messages=messages, stages=stage_table
    )
    bundle.process_files = {pid: parser.get_process_parser(pid).filename for pid in parser.get_process_ids()}
    _collect_tasks(bundle, trees, errors)
    if deploy:  # issue 15.9: a process nothing calls is a warning, and its scripts pass the sandbox's check too
        bundle.warnings, uncalled_errors = _uncalled(parser, bpmn_trees, {ROOT_PROCESS_ID, *subprocess_specs}, trees)
        errors += uncalled_errors
        # issue 15.2: a variable read on a path where nothing set it (engine.process.unset_reads)
        dmn_decisions = {
            d.get("id"): (n, d)
            for n, r in dmn_trees.items()
            for d in r.iter()
            if isinstance(d.tag, str) and etree.QName(d).localname == "decision"
        }
        bundle.warnings += unset_read_warnings(files, bpmn_trees, forms, dmn_decisions)
    if errors:
        raise InvalidProcess(f"{len(errors)} error(s) in the process files", errors)
    return bundle


def _abstract_tasks_pass_through(specs) -> None:
    """A bpmn:task with no type is an abstract task (BPMN 2.0, 10.3.3): the engine completes it and goes on.
    SpiffWorkflow makes it a manual task waiting for someone; nobody would know whose it is (issue 15.6)."""
    for spec in specs:
        for task_spec in spec.task_specs.values():
            if isinstance(task_spec, NoneTask):
                task_spec.manual = False


def _check_called_processes(bpmn_trees: dict, process_ids: set) -> None:
    """The library names neither file nor element for an unknown calledElement: we do."""
    errors = [
        _error(name, f"call activity calls unknown process '{el.get('calledElement')}'", el.get("id"), el.sourceline)
        for name, root in bpmn_trees.items()
        for el in root.iter(f"{{{BPMN_NS}}}callActivity")
        if el.get("calledElement") not in process_ids
    ]
    if errors:
        raise InvalidProcess(f"{len(errors)} error(s) in the process files", errors)


def _load_json(name: str, text: str, errors: list):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        errors.append(
            _error(name, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", None, exc.lineno)
        )
        return None


def _load_form(name: str, text: str, errors: list) -> dict:
    try:
        schema = json.loads(text)
        jsonschema.Draft202012Validator.check_schema(schema)
        # a form never fetches: each $ref points inside it, named by its JSON pointer when not (engine.process.forms)
        for pointer, problem in reference_errors(schema):
            errors.append(_error(name, f"{problem} (at {pointer})", pointer))
        return schema
    except json.JSONDecodeError as exc:
        errors.append(
            _error(name, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", None, exc.lineno)
        )
    except jsonschema.SchemaError as exc:
        errors.append(_error(name, f"invalid JSON Schema: {exc.message}"))
    return {}


def _collect_tasks(bundle: ParsedBundle, trees: dict, errors: list) -> None:
    """Index human tasks, check their forms exist, and check every script against the sandbox."""
    texts = instructions.read(trees)
    for spec in [bundle.spec, *bundle.subprocess_specs.values()]:
        file = bundle.process_files.get(spec.name, "?")
        for task_spec in spec.task_specs.values():
            element = getattr(task_spec, "bpmn_id", None)
            for source, mode in _code_of(task_spec):
                try:
                    sandbox.check(source, mode)
                except sandbox.SandboxViolation as exc:
                    errors.append(_error(file, f"script refused: {exc}", element, _line_of(trees, file, element)))
            if element is None or not getattr(task_spec, "manual", False):
                continue
            props = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
            form_file = props.get(FORM_PROPERTY)
            if form_file and form_file not in bundle.forms:
                errors.append(
                    _error(
                        file, f"form file '{form_file}' is not in the bundle", element, _line_of(trees, file, element)
                    )
                )
            lane = getattr(task_spec, "lane", None)
            if lane is not None and lane not in LANE_ROLES:
                errors.append(_error(file, f"lane '{lane}' maps to no role", element, _line_of(trees, file, element)))
            bundle.tasks[f"{spec.name}:{element}"] = TaskInfo(
                element,
                task_spec.bpmn_name or element,
                lane,
                spec.name,
                dict(props),
                form_file,
                instructions=texts.get((file, element)),
            )


def _code_of(task_spec):
    """Every piece of code a task spec will hand to the script engine: scripts, pre/post scripts,
    gateway conditions, loop and multi-instance expressions, event payload/timer/correlation
    expressions, service-task parameters and the cells of a called DMN table."""
    script = getattr(task_spec, "script", None)
    if isinstance(script, str) and script.strip():
        yield script, "exec"
    for attr in ("prescript", "postscript"):
        text = getattr(task_spec, attr, None)
        if text:
            yield text, "exec"
    for cond in getattr(task_spec, "cond_task_specs", []) or []:
        if cond[0] is not None:
            yield cond[0].args[0].strip() if hasattr(cond[0], "args") else str(cond[0]), "eval"
    for attr in ("condition", "cardinality"):
        yield from _expression(getattr(task_spec, attr, None))
    for param in (getattr(task_spec, "operation_params", None) or {}).values():
        yield from _expression(param.get("value") if isinstance(param, dict) else param)
    yield from _event_code(getattr(task_spec, "event_definition", None))
    engine = getattr(task_spec, "dmnEngine", None)
    if engine is not None and not getattr(engine, "feel", False):  # a FEEL table's cells are never Python
        yield from _decision_code(engine.decision_table)


def _expression(text):
    if isinstance(text, str) and text.strip():
        yield text.strip(), "eval"


def _event_code(definition):
    """Timer, conditional and payload expressions and correlation retrievals of an event definition."""
    if definition is None:
        return
    yield from _expression(getattr(definition, "expression", None))
    for prop in getattr(definition, "correlation_properties", None) or []:
        yield from _expression(getattr(prop, "retrieval_expression", None))
    for inner in getattr(definition, "event_definitions", None) or []:
        yield from _event_code(inner)


_DMN_INPUT_MARK = re.compile(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)")


def _decision_code(table):
    """The expressions SpiffWorkflow's DMN engine builds from a table: inputs, input entries, outputs."""
    for item in table.inputs:
        yield from _expression(item.expression)
    for rule in table.rules:
        for entry in rule.inputEntries:
            subject = (entry.input.expression or "").strip() or "dmninputexpr"
            for cell in entry.lhs:
                if cell is None or not cell.strip():
                    continue
                # as DMNEngine.evaluate: '?' is the input; a cell that is not an expression is appended to it
                marked = _DMN_INPUT_MARK.sub("dmninputexpr", cell)
                if "dmninputexpr" in marked:
                    yield marked.strip(), "eval"
                elif _parses(cell):
                    yield f"({subject}) == ({cell.strip()})", "eval"
                else:
                    yield f"{subject} {cell.strip()}", "eval"
        for entry in rule.outputEntries:
            yield from _expression(getattr(entry, "text", None))


def _parses(text: str) -> bool:
    try:
        ast.parse(text.strip(), mode="eval")
        return True
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False


class SpecCache:
    """Parsed bundles by hash, so XML is parsed once per process, never per request."""

    def __init__(self, max_entries: int = 64):
        self._items: OrderedDict[str, ParsedBundle] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.parses = 0

    def get(self, files_hash: str, load_files) -> ParsedBundle:
        with self._lock:
            bundle = self._items.get(files_hash)
            if bundle is not None:
                self._items.move_to_end(files_hash)
                return bundle
        bundle = parse_bundle(load_files())
        with self._lock:
            self.parses += 1
            self._items[files_hash] = bundle
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return bundle
