"""Nothing reaches inside the network unless an operator says so (issue 20, point 6).

One outbound address policy (engine/adapters/address_policy.py) for service tasks and webhooks. Each hostile
way of writing an internal address is a case, refused four times: by the policy itself, at deploy when the URL is
a literal (422 naming the file and the service task), at run time as an incident naming the service task, and
for a webhook subscription (422). A host the operator names in RMA_SERVICE_TASK_HOSTS works; a name is resolved
once and connected to at the address that was checked.

Nothing here sends a byte anywhere but 127.0.0.1 (and 127.0.0.2 for the rebinding case): `net` resolves the
test's names itself (no DNS) and refuses, and records, any connection to another address.
"""

from __future__ import annotations

import dataclasses
import io
import json
import socket
import ssl
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import create_engine, text

from engine import Actor, Orchestrator, Settings
from engine.adapters import address_policy
from engine.adapters.address_policy import AddressRefused, OutboundPolicy, allowlist
from engine.adapters.senders import senders_from_settings
from engine.adapters.service_tasks import HttpServices, ServiceCallFailed
from engine.demo import create_centres_and_users
from engine.errors import InvalidInput, InvalidProcess
from engine.services import integrations, operations, processes, rmas
from engine.store.model import WebhookDelivery
from engine.store.outbox import send_pending
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES, _pg_schema_url
from tests.helpers import actor, rma_payload
from tests.http_receiver import HttpReceiver
from tests.security.erp_task import INTAKE, TASK, bundle, recorded
from tests.web.conftest import ApiDriver
from web.cli import init_database

OWNER = Actor("owner", "process_owner")
MANAGER = Actor("manager", "manager")

# (case, host as written in a URL): every one of them names this machine, the LAN or the cloud's metadata
HOSTILE = [
    ("loopback", "127.0.0.1"),
    ("decimal", "2130706433"),
    ("hex", "0x7f.1"),
    ("octal", "017700000001"),
    ("short form", "127.1"),
    ("IPv4-mapped IPv6", "[::ffff:127.0.0.1]"),
    ("IPv6 loopback", "[::1]"),
    ("localhost", "localhost"),
    ("localhost, upper case with a dot", "LOCALHOST."),
    ("a name under localhost", "admin.localhost"),
    ("cloud metadata", "169.254.169.254"),
    ("cloud metadata, IPv6", "[fd00:ec2::254]"),
    ("unique local IPv6", "[fd00::1]"),
    ("private 10/8", "10.0.0.5"),
    ("private 172.16/12", "172.16.0.1"),
    ("private 192.168/16", "192.168.1.1"),
    ("shared 100.64/10", "100.64.0.1"),
    ("unspecified", "0.0.0.0"),
    ("unspecified IPv6", "[::]"),
    ("link-local IPv6", "[fe80::1]"),
    ("multicast", "224.0.0.1"),
    ("reserved", "240.0.0.1"),
    ("6to4 around loopback", "[2002:7f00:1::]"),
    ("full-width digits", "\uff11\uff12\uff17.\uff10.\uff10.\uff11"),
]
CASES = [pytest.param(host, id=case) for case, host in HOSTILE]
PUBLIC = "93.184.216.34"  # only ever "connected to" through net.stand_in, which sends it to 127.0.0.1


class Net:
    """The test's resolver and connection guard: names resolve only as the test says (`names`), and a connection
    goes through only to a loopback address (or to a stand-in for a public one); each attempt is recorded."""

    LOCAL = ("127.0.0.1", "127.0.0.2", "::1")

    def __init__(self, real_getaddrinfo, real_connect):
        self.names: dict[str, list[str]] = {}
        self.rebinding: dict[str, list[list[str]]] = {}  # a name's answers, one list per lookup
        self.lookups: list[str] = []
        self.connects: list[str] = []  # the addresses connected to (refused ones included)
        self.stand_in: dict[str, str] = {}
        self._getaddrinfo, self._connect = real_getaddrinfo, real_connect

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.lookups.append(name)
        if self.rebinding.get(name):
            self.names[name] = self.rebinding[name].pop(0)
        if name in self.names:
            answers = []
            for address in self.names[name]:
                v6 = ":" in address
                sockaddr = (address, port, 0, 0) if v6 else (address, port)
                answers.append((socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM, 6, "", sockaddr))
            return answers
        # a numeric address parses without any lookup; any other name is unknown here (no DNS in tests)
        return self._getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    def connect(self, family, sockaddr, timeout, source_address=None):
        self.connects.append(sockaddr[0])
        target = self.stand_in.get(sockaddr[0], sockaddr[0])
        if target not in self.LOCAL:
            raise ConnectionRefusedError(f"the test refuses to connect to {sockaddr[0]}")
        family = socket.AF_INET6 if ":" in target else socket.AF_INET
        return self._connect(family, (target, *sockaddr[1:]), timeout, source_address)

    def create_connection(self, address, *args, **kwargs):  # anything that would bypass the policy
        self.connects.append(str(address[0]))
        raise ConnectionRefusedError(f"the test refuses a connection outside the policy to {address[0]}")


@pytest.fixture(autouse=True)
def net(monkeypatch):
    n = Net(socket.getaddrinfo, address_policy._connect_socket)
    monkeypatch.setattr(address_policy.socket, "getaddrinfo", n.getaddrinfo)
    monkeypatch.setattr(address_policy, "_connect_socket", n.connect)
    monkeypatch.setattr(socket, "create_connection", n.create_connection)
    return n


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared(request, tmp_path_factory):
    """One orchestrator per backend for the module (the hostile cases change nothing but their own RMAs), with
    the tell-the-ERP task deployed; its URL is `'http://' + serial_number + '/erp'`, so each RMA picks its host."""
    tmp = tmp_path_factory.mktemp("outbound")
    admin, schema = None, None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'rma.sqlite3'}"
    else:
        if not POSTGRES_URL:
            if REQUIRE_POSTGRES:
                pytest.fail("RMA_TEST_POSTGRES_URL is not set but PostgreSQL tests are required")
            pytest.skip("set RMA_TEST_POSTGRES_URL to run PostgreSQL tests")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        url = _pg_schema_url(POSTGRES_URL, schema)
    settings = Settings.from_env(
        {}, database_url=url, instance_dir=tmp, upload_dir=tmp / "uploads", secret_key="test", run_worker=False
    )
    orc = Orchestrator(settings)
    try:
        orc.migrate()
        create_centres_and_users(orc)
        init_database(orc)
        processes.deploy_bundle(orc, OWNER, bundle("'http://' + serial_number + '/erp'"), note="ERP by serial")
        yield orc
    finally:
        orc.dispose()
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


# --- the policy itself ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", CASES)
def test_the_policy_refuses_every_form_of_an_internal_address(host):
    refusal = OutboundPolicy().url_refusal(f"http://{host}:8080/erp")
    assert refusal is not None and "refused unless RMA_SERVICE_TASK_HOSTS names it" in refusal
    with pytest.raises(AddressRefused):
        OutboundPolicy().addresses(host.strip("[]"), 8080)


@pytest.mark.parametrize("host", CASES)
def test_a_host_the_operator_names_is_let_through(host):
    policy = OutboundPolicy(allowlist([host]))
    assert policy.url_refusal(f"http://{host}:8080/erp") is None
    assert OutboundPolicy(allowlist([f"{host}:8080"])).url_refusal(f"http://{host}:8080/erp") is None
    assert OutboundPolicy(allowlist([f"{host}:8080"])).url_refusal(f"http://{host}:9090/erp") is not None


@pytest.mark.parametrize(
    "url", ["https://erp.example.com/rma", f"http://{PUBLIC}/x", "https://[2606:4700:4700::1111]/", "http://erp/"]
)
def test_public_addresses_and_names_pass_the_check_without_dns(url, net):
    assert OutboundPolicy().url_refusal(url) is None
    assert net.lookups == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://erp.example.com/x", "is not an http:// or https:// URL"),
        ("file:///etc/passwd", "is not an http:// or https:// URL"),
        ("http://erp.example.com:99999/", "is not a valid URL"),
        ("http://erp.example.com/\r\nX-Injected: 1", "control character"),
        ("http://erp.example.com/a b", "whitespace"),
    ],
)
def test_what_is_not_a_plain_http_url_is_refused(url, reason):
    assert reason in OutboundPolicy().url_refusal(url)


@pytest.mark.parametrize(
    ("answers", "refused"),
    [
        (["10.0.0.5"], "resolves to 10.0.0.5, a private address"),
        (["169.254.169.254"], "resolves to 169.254.169.254, a cloud metadata address"),
        (["::1"], "resolves to ::1, a loopback address"),
        ([PUBLIC, "192.168.1.1"], "resolves to 192.168.1.1, a private address"),  # every address is checked
        (["::ffff:10.1.2.3"], "a private address (as 10.1.2.3 inside an IPv6 address)"),
    ],
)
def test_a_name_that_resolves_inside_is_refused_before_any_connection(net, answers, refused):
    net.names["erp.example.com"] = answers
    with pytest.raises(ServiceCallFailed) as info:
        HttpServices().call("http/PostRequest", {"url": "http://erp.example.com/rma", "data": {}}, "key-1")
    assert refused in str(info.value) and "refused" in str(info.value)
    assert net.lookups == ["erp.example.com"] and net.connects == []


def test_a_name_is_connected_to_at_the_address_that_was_checked(net):
    """DNS rebinding: the name answers with a public address for the check and a loopback one a moment later;
    the connection goes to the checked public address (here standing in for it: the receiver on 127.0.0.1), the
    name is looked up once, and the request still names the host it was written for."""
    net.rebinding["rebind.example"] = [[PUBLIC], ["127.0.0.1"]]
    with HttpReceiver(status=200, reply={"ok": True}) as erp:
        port = erp.url.split(":")[2].split("/")[0]
        net.stand_in[PUBLIC] = "127.0.0.1"
        result = HttpServices().call("http/GetRequest", {"url": f"http://rebind.example:{port}/hook"}, "key-2")
    assert result == {"http_status": 200, "body": {"ok": True}}
    assert net.lookups == ["rebind.example"] and net.connects == [PUBLIC]
    [call] = erp.requests
    assert call.headers["Host"] == f"rebind.example:{port}"


def test_a_named_host_is_connected_to_at_its_one_resolved_address_too(net):
    """The allowlisted ERP on the LAN: resolved once, and the connection goes where that one answer said, not
    where a second lookup would say (127.0.0.1 answers first; 127.0.0.2 on the same port would answer later)."""
    first = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    try:
        second = ThreadingHTTPServer(("127.0.0.2", first.server_port), _Answer)
    except OSError:
        first.server_close()
        pytest.skip("127.0.0.2 is not available on this machine")
    net.rebinding["erp.lan"] = [["127.0.0.1"], ["127.0.0.2"]]
    with _serving(first), _serving(second):
        services = HttpServices(allowed_hosts=allowlist(["erp.lan"]))
        result = services.call("http/GetRequest", {"url": f"http://erp.lan:{first.server_port}/x"}, "key-3")
    assert result["body"] == {"at": "127.0.0.1", "host": f"erp.lan:{first.server_port}"}
    assert net.lookups == ["erp.lan"] and net.connects == ["127.0.0.1"]


def test_https_keeps_the_host_as_the_tls_server_name(net):
    seen = {}

    class Context:
        verify_mode, check_hostname = ssl.CERT_REQUIRED, True

        def wrap_socket(self, sock, server_hostname=None):
            seen["server_hostname"] = server_hostname
            return sock

    net.names["erp.example.com"] = [PUBLIC]
    net.stand_in[PUBLIC] = "127.0.0.1"
    with HttpReceiver() as receiver:
        port = int(receiver.url.split(":")[2].split("/")[0])
        connection = address_policy._PinnedHTTPSConnection(
            "erp.example.com", port, policy=OutboundPolicy(), context=Context()
        )
        connection.connect()
        connection.close()
    assert seen == {"server_hostname": "erp.example.com"} and net.connects == [PUBLIC]


def test_redirects_are_not_followed(net):
    with HttpReceiver(status=302) as erp:
        services = HttpServices(allowed_hosts=allowlist(["127.0.0.1"]))
        with pytest.raises(ServiceCallFailed) as info:
            services.call("http/GetRequest", {"url": erp.url}, "key-4")
    assert "answered 302" in str(info.value) and len(net.connects) == 1


# --- at deploy, at run time, for webhook subscriptions (each backend) ------------------------------------------


@pytest.mark.parametrize("host", CASES)
def test_a_literal_url_to_an_internal_address_is_refused_at_deploy_naming_file_and_task(shared, host):
    files = bundle(f"'http://{host}:8080/erp'")
    result = processes.validate_bundle(shared, OWNER, files)
    assert result["valid"] is False
    [error] = result["errors"]
    assert (error["file"], error["element"]) == (INTAKE, TASK) and error["line"], error
    assert "parameter url" in error["message"] and "refused unless RMA_SERVICE_TASK_HOSTS" in error["message"]


@pytest.mark.parametrize(
    "expression",
    ["f'http://127.0.0.1/rma/{rma_number}'", "'http://10.0.0.5/rma/' + rma_number", "'http://localhost?x=' + x"],
)
def test_a_url_whose_literal_start_names_the_host_is_checked_at_deploy_too(shared, expression):
    with pytest.raises(InvalidProcess) as info:
        processes.deploy_bundle(shared, OWNER, bundle(expression), note="internal")
    assert [(e["file"], e["element"]) for e in info.value.errors] == [(INTAKE, TASK)]


@pytest.mark.parametrize("host", CASES)
def test_a_computed_url_to_an_internal_address_is_an_incident_naming_the_service_task(shared, net, host):
    opened = recorded(shared, host)
    assert opened["status"] == "incident"
    [incident] = [
        i for i in operations.list_incidents(shared, MANAGER, per_page=200)["items"] if i["rma_id"] == opened["id"]
    ]
    assert incident["task"] == TASK and incident["task_title"] == "Tell the ERP"
    assert incident["error"].startswith(f"{TASK}: service task") and "refused" in incident["error"], incident
    assert net.connects == []


@pytest.mark.parametrize("host", CASES)
def test_a_webhook_subscription_to_an_internal_address_is_refused(shared, host):
    with pytest.raises(InvalidInput) as info:
        integrations.create_subscription(shared, MANAGER, f"https://{host}/rma-events")
    [message] = info.value.errors["url"]
    assert "refused unless RMA_SERVICE_TASK_HOSTS names it" in message


def test_a_webhook_to_a_name_that_resolves_inside_is_refused_at_delivery(shared, net):
    net.names["hooks.example.com"] = ["10.20.30.40"]
    sub = integrations.create_subscription(shared, MANAGER, "https://hooks.example.com/rma", events=["rma.opened"])
    rmas.open_rma(shared, actor(shared, "sg.reception"), rma_payload(serial="erp.example.com"))
    send_pending(shared, {"webhook": senders_from_settings(shared.settings)["webhook"]})
    with shared.reading() as s:
        [delivery] = s.query(WebhookDelivery).filter_by(subscription_id=sub["id"]).all()
    assert delivery.status_code is None and delivery.error.startswith("refused: host hooks.example.com resolves to")
    assert "10.20.30.40" not in net.connects
    integrations.delete_subscription(shared, MANAGER, sub["id"])


def test_the_erp_on_the_lan_works_once_the_operator_names_it(orc, net):
    net.names["erp.lan"] = ["127.0.0.1"]  # stands for 10.0.0.5: only loopback is ever connected to in tests
    with HttpReceiver(status=200, reply={"order": "SO-1"}) as erp:
        url = erp.url.replace("127.0.0.1", "erp.lan")
        files = bundle(f"'{url}'")
        # a name: deployable, but without the operator's word it resolves inside and is refused when called
        processes.deploy_bundle(orc, OWNER, files, note="ERP on the LAN")
        refused = recorded(orc, "LAN-1")
        assert refused["status"] == "incident" and erp.requests == []
        orc.settings = dataclasses.replace(orc.settings, service_task_hosts=("erp.lan",))
        orc.runtime.script_engine.services = HttpServices.from_settings(orc.settings)
        opened = recorded(orc, "LAN-2")
        retried = operations.retry_incident(orc, MANAGER, refused["id"])
        sub = integrations.create_subscription(orc, MANAGER, url.replace("/hook", "/events"), events=["rma.closed"])
    assert opened["status"] != "incident" and retried["rma"]["status"] != "incident"
    assert [r.json for r in erp.requests] == [{"rma": opened["number"]}, {"rma": refused["number"]}]
    assert {r.headers["Host"] for r in erp.requests} == {url.split("/")[2]}
    assert sub["url"].startswith("http://erp.lan:")
    assert set(net.connects) == {"127.0.0.1"}


@pytest.fixture
def api(client) -> ApiDriver:
    return ApiDriver(client)


def test_the_api_answers_422_for_a_refused_deploy_and_subscription(api, net):
    files = bundle("'http://2130706433/erp'")
    upload = {"files": [(io.BytesIO(files[INTAKE].encode()), "rma_intake.bpmn")]}
    response = api.client.post(
        "/api/processes/validate", data=upload, headers=api.headers("owner"), content_type="multipart/form-data"
    )
    assert response.status_code == 422, response.get_json()
    [error] = response.get_json()["errors"]
    assert (error["file"], error["element"]) == (INTAKE, TASK) and "loopback" in error["message"]
    refused = api.post("manager", "/api/webhooks", {"url": "http://[::ffff:169.254.169.254]/latest"})
    assert refused.status_code == 422 and "metadata" in refused.get_json()["errors"]["url"][0]
    assert net.connects == []


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"at": self.server.server_address[0], "host": self.headers["Host"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _serving:
    def __init__(self, server):
        self.server = server

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.server

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
