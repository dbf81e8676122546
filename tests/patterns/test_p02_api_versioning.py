"""Pattern 2: API style and versioning, on the real user service process.

Proven here: RPCs live in versioned proto packages; shop.user.v1 and
shop.user.v2 are served side by side by one process over the same data; a v1
client keeps working after v2 ships, including on users created and changed
through v2. (buf breaking guards v1's wire contract: tests/contracts; the REST
paths /v1/... and /v2/... side by side through Envoy:
tests/integration/test_edge_rest.py.)
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc
from shop.user.v2 import user_pb2 as v2
from shop.user.v2 import user_pb2_grpc as v2_grpc

from protomesh_toolkit.codegen import tool
from tests.support import mesh_tls
from tests.support.mail import MailSink
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def service(
    postgres: Postgres, mail_sink: MailSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    running = user_service(postgres, tmp_path_factory.mktemp("p02"), **mail_sink.service_settings)
    running.start()
    yield running
    running.terminate()


def test_one_process_serves_both_versions(service: ServiceProcess) -> None:
    listed = subprocess.run(
        [tool("grpcurl"), *mesh_tls.grpcurl_flags(), service.address, "list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "shop.user.v1.UserService" in listed
    assert "shop.user.v2.UserService" in listed


def test_a_v1_client_keeps_working_on_users_that_v2_created_and_changed(
    service: ServiceProcess, mail_sink: MailSink
) -> None:
    with mesh_tls.channel(service.address) as channel:
        users_v1 = v1_grpc.UserServiceStub(channel)
        users_v2 = v2_grpc.UserServiceStub(channel)
        created = users_v2.CreateUser(
            v2.CreateUserRequest(
                email="margaret@example.com",
                name=v2.PersonName(given_name="Margaret", family_name="Hamilton"),
            )
        ).user
        users_v2.SendEmailVerification(
            v2.SendEmailVerificationRequest(user_id=created.user_id), timeout=10
        )
        code = mail_sink.code_for("margaret@example.com")
        users_v2.VerifyEmail(v2.VerifyEmailRequest(user_id=created.user_id, code=code))
        seen_by_v1 = users_v1.GetUser(v1.GetUserRequest(user_id=created.user_id)).user
        assert (seen_by_v1.email, seen_by_v1.display_name) == (
            "margaret@example.com",
            "Margaret Hamilton",
        )
        renamed = users_v1.UpdateUser(
            v1.UpdateUserRequest(user_id=created.user_id, display_name="M. Hamilton")
        ).user
        assert renamed.display_name == "M. Hamilton"
        after = users_v2.GetUser(v2.GetUserRequest(user_id=created.user_id)).user
        # v1's rename touches only what v1 knows about: v2's structured name and
        # the verified email survive it.
        assert after.name.given_name == "Margaret"
        assert after.email_verification == v2.EMAIL_VERIFICATION_VERIFIED
        assert after.display_name == "M. Hamilton"


def test_v1_answers_in_v1_shapes(service: ServiceProcess) -> None:
    with mesh_tls.channel(service.address) as channel:
        reply = v1_grpc.UserServiceStub(channel).CreateUser(
            v1.CreateUserRequest(email="v1shape@example.com", display_name="Old Client")
        )
    fields = {field.name for field, _ in reply.user.ListFields()}
    assert fields == {"user_id", "email", "display_name", "create_time", "update_time"}
