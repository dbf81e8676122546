"""Send the cases, each followed by another client's known-good calls, and judge both.

After every bad request, a second client (its own connections, opened once)
makes ordinary calls with a deadline: through the edge over gRPC and REST,
and, when the bad request went straight to a service, straight to that
service too. Any of them failing is a finding: one client's request changed
another's answer. At the end every service must still be SERVING and every
upstream of the edge healthy.
"""

from __future__ import annotations

import http.client
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc
from shop.order.v1 import order_pb2, order_pb2_grpc
from shop.user.v1 import user_pb2 as user_v1
from shop.user.v1 import user_pb2_grpc as user_v1_grpc

from protomesh_toolkit.cluster import envoy_admin as admin
from tests.mesh_fuzz.cases import DIRECT_GRPC, REST, Case, CaseMaker
from tests.mesh_fuzz.oracle import Verdict, judge_grpc, judge_rest, judge_silence
from tests.support import mesh_tls
from tests.support.envoy import Envoy
from tests.support.grpc_calls import health
from tests.support.raw_h2 import RawConnection

TIMEOUT = 6.0  # the edge answers within its longest route timeout (5s) or says why
DIRECT_TIMEOUT = 1.0  # straight to grpc-core, an incomplete message waits for ever


@dataclass
class Report:
    cases: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    findings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{self.cases} cases, {len(self.findings)} findings"]
        lines += [f"  {count:6d}  {outcome}" for outcome, count in sorted(self.outcomes.items())]
        lines += [f"FINDING {finding}" for finding in self.findings[:50]]
        return "\n".join(lines)


# The next client's own rate limit (mesh.yaml `per_end_user`): wait and try again.
RATE_LIMITED = grpc.StatusCode.RESOURCE_EXHAUSTED.name
RATE_LIMITED_RETRIES = 5
RATE_LIMITED_WAIT = 0.25  # seconds; the bucket refills 20 calls a second


class Fuzzer:
    """`services` maps a service's name (user, order) to its mTLS address."""

    def __init__(
        self, edge: Envoy, services: dict[str, str], customer: str, bystander: str
    ) -> None:
        self.edge = edge
        self.services = services
        self.customer = customer  # whom the bad requests are made as, and for
        self.token = edge.token(customer)
        # The next client is someone else: a bad request must not hurt another caller
        # (the fuzz customer's own budget, spent by the fuzz, is theirs to spend).
        self.bystander = bystander
        self._bystander_token = edge.token(bystander)
        self._edge_channel = grpc.insecure_channel(edge.address)
        self._direct = {name: mesh_tls.channel(address) for name, address in services.items()}

    def close(self) -> None:
        self._edge_channel.close()
        for channel in self._direct.values():
            channel.close()

    def run(self, count: int, seed: int, max_seconds: float) -> Report:
        maker = CaseMaker(seed, self.customer, self.token)
        report = Report()
        stop_at = time.monotonic() + max_seconds
        for _ in range(count):
            if time.monotonic() > stop_at:
                break
            case = maker.make()
            verdict = self.send(case)
            report.cases += 1
            report.outcomes[verdict.outcome] += 1
            if verdict.finding:
                report.findings.append(f"{verdict.finding} <- {case.describe()}")
            if (broken := self.next_client_problem(case)) is not None:
                report.findings.append(f"the next client failed: {broken} <- {case.describe()}")
        report.findings += self.still_standing()
        return report

    def send(self, case: Case) -> Verdict:
        if case.door == REST:
            return self._send_rest(case)
        if case.door == DIRECT_GRPC:
            host, port = self.services[case.service].rsplit(":", 1)
            opened = RawConnection.open(
                host, int(port), tls=mesh_tls.files(), server_name=case.service
            )
        else:
            opened = RawConnection.open("127.0.0.1", self.edge.port)
        timeout = DIRECT_TIMEOUT if case.door == DIRECT_GRPC else TIMEOUT
        try:
            with opened as connection:
                reply = connection.call(
                    case.path,
                    case.body,
                    case.headers,
                    content_type=case.content_type,
                    timeout=timeout,
                )
        except TimeoutError:
            return judge_silence(case)
        except (OSError, ValueError) as error:  # the connection was refused or cut: h2's own
            return Verdict(f"connection closed ({type(error).__name__})")
        except Exception as error:  # h2 refusing to frame what the case asks for
            if type(error).__module__.startswith("h2"):
                return Verdict("not sendable by h2")
            raise
        return judge_grpc(case, reply)

    def _send_rest(self, case: Case) -> Verdict:
        connection = http.client.HTTPConnection("127.0.0.1", self.edge.port, timeout=TIMEOUT)
        headers = {"content-type": case.content_type, **dict(case.headers)}
        try:
            connection.request(case.method, case.path, body=case.body or None, headers=headers)
            response = connection.getresponse()
            body = response.read()
            received = {name.lower(): value for name, value in response.getheaders()}
        except (ValueError, UnicodeEncodeError, http.client.InvalidURL):
            return Verdict("not sendable by http.client")
        except (OSError, http.client.HTTPException) as error:
            return Verdict(f"connection closed ({type(error).__name__})")
        finally:
            connection.close()
        return judge_rest(case, response.status, received, body)

    def next_client_problem(self, case: Case) -> str | None:
        """Another client's ordinary calls, right after `case`; None when all succeeded.

        It reads another user's own record, signed in as that user: a call every
        access policy allows. That client calls as fast as the fuzz runs, so it
        meets its own per-user rate limit now and then; like any well-behaved
        client it waits the hint and tries again (a 429 is its own budget, not harm
        done by the bad request).
        """
        for _ in range(RATE_LIMITED_RETRIES):
            problem = self._ordinary_calls(case)
            if problem is None or not problem.startswith(RATE_LIMITED):
                return problem
            time.sleep(RATE_LIMITED_WAIT)
        return problem

    def _ordinary_calls(self, case: Case) -> str | None:
        signed_in = (("authorization", f"Bearer {self._bystander_token}"),)
        try:
            stub = user_v1_grpc.UserServiceStub(self._edge_channel)
            request = user_v1.GetUserRequest(user_id=self.bystander)
            stub.GetUser(request, metadata=signed_in, timeout=5)
            if case.door == DIRECT_GRPC:
                self._direct_call(case.service)
        except grpc.RpcError as error:
            failed: Any = error
            return f"{failed.code().name}: {failed.details()}"
        reply = self.edge.request(
            "GET",
            f"/v1/users/{self.bystander}",
            headers={"grpc-timeout": "5S", "authorization": f"Bearer {self._bystander_token}"},
        )
        if reply.status == 429:
            return f"{RATE_LIMITED}: REST 429"
        if reply.status != 200:
            return f"REST {reply.status}: {reply.body[:200]!r}"
        return None

    def _direct_call(self, service: str) -> None:
        channel = self._direct[service]
        if service == "order":
            request = order_pb2.ListOrdersRequest(customer_id=self.bystander, page_size=1)
            order_pb2_grpc.OrderServiceStub(channel).ListOrders(request, timeout=5)
        else:
            get = user_v1.GetUserRequest(user_id=self.bystander)
            user_v1_grpc.UserServiceStub(channel).GetUser(get, timeout=5)

    def still_standing(self) -> list[str]:
        problems = []
        for name, address in self.services.items():
            try:
                status = health(address, timeout=5)
            except grpc.RpcError as error:
                failed: Any = error
                status = failed.code().name
            if status != "SERVING":
                problems.append(f"{name} is {status} after the run")
        upstreams = admin.upstream_health(self.edge.admin_port)
        problems += [
            f"edge upstream {host} is {flags}"
            for host, flags in upstreams.items()
            if flags != "healthy"
        ]
        return problems
