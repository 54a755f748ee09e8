"""Pulumi mocks for the tests in this folder: computed outputs for AWS resources, every
registration collected so tests can sort and assert the graph."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass(frozen=True)
class Registered:
    """One resource the program registered, as the engine would have seen it."""

    typ: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]


class Mocks(pulumi.runtime.Mocks):
    """Gives each AWS resource the computed outputs the tests read (ids, ARNs, names)."""

    def __init__(self) -> None:
        self.registered: list[Registered] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        rid = f"{args.name}-id"
        if args.typ == "aws:route53/zone:Zone":
            rid = "Z0MOCKZONE"
            outputs.update(
                zoneId=rid,
                arn=f"arn:aws:route53:::hostedzone/{rid}",
                nameServers=["ns-1.awsdns-00.com", "ns-2.awsdns-00.net"],
            )
        elif args.typ == "aws:dynamodb/table:Table":
            name = args.inputs.get("name") or f"{args.name}-1a2b3c"
            outputs.update(name=name, arn=f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}")
        elif args.typ in ("aws:iam/role:Role", "aws:iam/policy:Policy"):
            kind = "role" if args.typ.endswith("Role") else "policy"
            name = args.inputs.get("name") or f"{args.name}-1a2b3c"
            outputs.update(name=name, arn=f"arn:aws:iam::{ACCOUNT}:{kind}/{name}")
        self.registered.append(Registered(args.typ, args.name, dict(args.inputs), outputs))
        return rid, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.calls.append((args.token, dict(args.args)))
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "userId": "AIDA", "id": ACCOUNT}, []
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        if args.token == "aws:route53/getZone:getZone":
            zid = args.args["zoneId"]
            return {
                "zoneId": zid,
                "id": zid,
                "name": "example.com",
                "arn": f"arn:aws:route53:::hostedzone/{zid}",
                "nameServers": ["ns-9.awsdns-09.org"],
            }, []
        return {}, []

    def of_type(self, typ: str) -> list[Registered]:
        """Registered resources of one type, sorted by name (registration order is not stable)."""
        return sorted((r for r in self.registered if r.typ == typ), key=lambda r: r.name)
