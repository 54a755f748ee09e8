"""Route 53's rules, once: names, listing order and paging, RDATA, quotas and change batches.

One implementation for every Route 53 stand-in of the project: the embedded strict model
(`safeguards.backends.strict`) and the LocalStack provider (`localstack/plugin`, which ships this
package as `dnssg_route53_rules`). So it imports nothing from `safeguards` (only the standard
library and dnspython), and works on record sets in botocore's wire shape
(`{"Name": ..., "Type": ..., "TTL": ..., "ResourceRecords": [{"Value": ...}], ...}`).

Sources: the Route 53 API reference and quotas, and what real clients saw (octoDNS, the AWS CLI,
external-dns, Terraform); see /work/shared/route53-semantics.md and docs/route53.md.
"""

from .batch import Quotas, Route53Error, judge_batch
from .listing import list_page, order_key
from .names import canonical_name, listed_name
from .wire import RRSet, from_wire, to_wire

__all__ = [
    "Quotas",
    "RRSet",
    "Route53Error",
    "canonical_name",
    "from_wire",
    "judge_batch",
    "list_page",
    "listed_name",
    "order_key",
    "to_wire",
]
