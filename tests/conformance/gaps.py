"""Known gaps: behaviours of Route 53 a backend gets wrong, as measured by this suite.

`KNOWN_GAPS[backend][test]` is the reason; `test` is a test function's name (every parametrization)
or the name with its non-backend parameters, e.g. ``test_delete_stale_value_rejected[replaced]``
(that one only). conftest marks those tests
`xfail(strict=True)`: the day an emulator fixes one, its test passes, the xfail turns into a
failure, and the entry must be deleted here (the gap closed upstream).
"""

from __future__ import annotations

#: moto 5.2.x: checks a DELETE against its journal of past CREATE/UPSERT changes (name, type,
#: TTL and the value list in order), not against the current sets; deletes by name and type, or by
#: set identifier alone across the whole zone; validates names only while applying.
_MOTO_JOURNAL = (
    "a DELETE is checked against moto's journal of past CREATEs/UPSERTs, not the current sets: content that "
    "was live once and has since been replaced is accepted and deletes the current set"
)
MOTO_GAPS: dict[str, str] = {
    "test_batch_is_all_or_nothing[outside-zone]": (
        "the name is checked only when moto reaches that change: the batch is rejected but the CREATE before "
        "it stays applied (partial batch)"
    ),
    "test_batch_is_all_or_nothing[create-existing]": (
        "a CREATE of an existing set (other values) is accepted as a duplicate, so the batch applies"
    ),
    "test_over_32000_value_chars_rejected": "no limit on value characters per request (33,000 accepted)",
    "test_delete_stale_value_rejected[replaced]": _MOTO_JOURNAL,
    "test_delete_different_ttl_rejected[replaced]": _MOTO_JOURNAL,
    "test_partial_txt_delete_rejected[replaced]": _MOTO_JOURNAL + " (the whole TXT set is removed)",
    "test_delete_values_in_other_order_accepted": (
        "the journal compares the value list in order: the same values in another order are refused (InvalidInput)"
    ),
    "test_weighted_delete_wrong_weight_rejected": (
        "the weight is not compared; a DELETE with a set identifier removes every set with that identifier"
    ),
    "test_weighted_delete_removes_only_matching_set_id": (
        "a DELETE with a set identifier removes the sets with that identifier at every name in the zone"
    ),
    "test_create_existing_rejected": "a CREATE of an existing set adds a duplicate set (same name and type)",
    "test_cas_second_writer_on_same_read_rejected": (
        "the stale DELETE of the second writer is accepted (journal check): both compare-and-sets apply"
    ),
    "test_cas_race_threads_exactly_one_wins": "both racing compare-and-sets are accepted",
    "test_cname_beside_other_type_rejected": "no CNAME exclusivity: a CNAME is added beside an A (and vice versa)",
    "test_cname_at_apex_rejected": "a CNAME at the zone apex is accepted",
    "test_get_change_pending_then_insync": "every change is INSYNC at once (never PENDING)",
    "test_change_ids_unique": "every ChangeResourceRecordSets returns the same change id (C2682N5HXP0BZ4)",
    "test_delete_and_recreate_earlier_content_in_one_batch": (
        "a CREATE of content the set had before is judged against its history, not after the DELETE before "
        "it in the batch: rollback batches are rejected"
    ),
}

#: Measured on moto 5.2.5 (and stock LocalStack 2026.3.0, which is moto) by test_route53_fidelity.py.
_NO_VALIDATION = "moto does not validate this: the set is accepted"
FIDELITY_GAPS: dict[str, str] = {
    "test_paginator_lists_every_set_once": (
        "no NextRecordIdentifier: botocore's paginator stops with 'same next token was received twice'"
    ),
    "test_names_listed_lower_case_with_escaped_wildcard": "names are listed as sent (case kept, '*' not as \\052)",
    "test_wildcard_and_escaped_wildcard_are_one_set": "'*.w' and '\\052.w' are two sets",
    "test_listing_order_sorts_hyphen_before_dot": "sorted by label tuples, not by the reversed name as text",
    "test_apex_soa_listed_as_one_seven_field_value": "the apex SOA value is not listed as one 7-field value",
    "test_invalid_set_refused_with_route53_code": _NO_VALIDATION + " (RDATA, quotas and ranges are not checked)",
    "test_wildcard_ns_refused": _NO_VALIDATION,
    "test_weighted_sets_of_one_name_share_one_ttl": _NO_VALIDATION,
    "test_two_latency_sets_for_one_region_refused": _NO_VALIDATION,
    "test_shape_errors_are_invalid_input[empty-changes]": "an empty batch is accepted",
    "test_shape_errors_are_invalid_input[missing-ttl]": "a set without TTL is accepted",
    "test_shape_errors_are_invalid_input[set-identifier-without-policy]": "accepted as a weighted set of weight 0",
    "test_missing_ttl_text_is_route53s": "a set without TTL is accepted",
    "test_get_change_of_unknown_id_is_no_such_change": "GetChange of any id answers INSYNC",
    "test_single_problem_is_bracketed": "moto's own message text, not bracketed",
    "test_cname_conflict_texts_are_route53s": "no CNAME exclusivity",
    "test_32000_characters_text_is_route53s": "no limit on value characters per request",
    "test_mixed_routing_text_is_route53s": "a weighted set is accepted beside a simple one",
    "test_every_routing_policy_round_trips_and_deletes_exactly": (
        "GeoProximityLocation and CidrRoutingConfig are dropped, aliases read back changed"
    ),
    "test_delete_must_match_routing_fields": "a DELETE matches by name, type and set identifier only",
    "test_routed_zone_applies_rolls_back_and_repairs": (
        "CidrRoutingConfig and GeoProximityLocation are dropped: the library's read-back sees the difference "
        "and rolls the apply back (VerificationFailed), as it should"
    ),
    "test_aws_cli_page_size_2_lists_every_set_once": (
        "no NextRecordIdentifier: the AWS CLI stops with 'The same next token was received twice'"
    ),
    "test_aws_cli_documented_change_batches": (
        "a DELETE of a missing set is InvalidInput ('Expected exactly one of [AliasTarget, ...]'), "
        "not InvalidChangeBatch"
    ),
}

KNOWN_GAPS: dict[str, dict[str, str]] = {
    # The strict model passes every behaviour.
    "strict-memory": {},
    "strict-sqlite": {},
    "moto": {
        **MOTO_GAPS,
        **FIDELITY_GAPS,
        "test_octodns_syncs_a_mixed_zone_and_reads_it_back": (
            "moto server's ListHealthChecks answer has no IsTruncated: octodns-route53 fails with KeyError"
        ),
    },
    # LocalStack's own Route 53 provider is moto's: measured identical (localstack-core 2026.3.0).
    "localstack-stock": {**MOTO_GAPS, **FIDELITY_GAPS},
    # Our strict provider judges batches with safeguards.route53_rules. GetChange stays PENDING for
    # /_dnssg/settings' insync_after seconds, 0 by default: the suite does not change it, because
    # other suites share the instance (test_insync_waiter_waits_for_pending sets it on its own port).
    "localstack-strict": {
        "test_get_change_pending_then_insync": "insync_after is 0 on the shared instance: INSYNC at the first GetChange"
    },
}


def markdown_table() -> str:
    """The emulator-gaps table of docs/route53.md (regenerate: `python tests/conformance/gaps.py`)."""
    backends = ["moto", "localstack-stock", "localstack-strict"]
    tests = sorted({test for backend in backends for test in KNOWN_GAPS[backend]})
    lines = ["| behaviour (test) | " + " | ".join(backends) + " |", "|---|" + "---|" * len(backends)]
    for test in tests:
        reason = next(KNOWN_GAPS[b][test] for b in backends if test in KNOWN_GAPS[b])
        marks = " | ".join("gap" if test in KNOWN_GAPS[b] else "ok" for b in backends)
        lines.append(f"| `{test}`: {reason} | {marks} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
