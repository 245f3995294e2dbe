"""A service task that tells the ERP about every new RMA once reception has recorded its intake: the shipped
bundle with `tell_erp` after `record_condition`, its URL an expression a test chooses."""

from __future__ import annotations

from lxml import etree

from engine.process.definitions import read_bundle_dir
from engine.services import rmas
from tests.bpmn_edit import BPMN, SPIFF, insert_node
from tests.conftest import PROCESSES_DIR
from tests.driver import complete_open_task
from tests.helpers import INTAKE as INTAKE_DATA
from tests.helpers import actor, rma_payload

INTAKE = "stages/rma_intake.bpmn"
TASK = "tell_erp"


def bundle(url_expression: str) -> dict:
    """The shipped bundle with `tell_erp` POSTing `{'rma': rma_number}` to `url_expression`."""
    files = read_bundle_dir(PROCESSES_DIR)
    xml = insert_node(files[INTAKE], "record_condition", "bpmn:serviceTask", TASK, "Tell the ERP", {})
    root = etree.fromstring(xml.encode())
    task = root.find(f".//*[@id='{TASK}']")
    extensions = etree.Element(f"{{{BPMN}}}extensionElements")
    task.insert(0, extensions)
    operator = etree.SubElement(
        extensions, f"{{{SPIFF}}}serviceTaskOperator", id="http/PostRequest", resultVariable="erp"
    )
    parameters = etree.SubElement(operator, f"{{{SPIFF}}}parameters")
    etree.SubElement(parameters, f"{{{SPIFF}}}parameter", id="url", type="str", value=url_expression)
    etree.SubElement(parameters, f"{{{SPIFF}}}parameter", id="data", type="any", value="{'rma': rma_number}")
    return {**files, INTAKE: etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode()}


def recorded(orc, serial: str) -> dict:
    """A new RMA whose intake reception has just recorded (`tell_erp` runs right after): the RMA after it."""
    opened = rmas.open_rma(orc, actor(orc, "sg.reception"), rma_payload(serial=serial))
    return complete_open_task(orc, "sg.reception", opened["id"], data=INTAKE_DATA)["rma"]
