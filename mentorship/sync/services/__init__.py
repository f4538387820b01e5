"""Making Canvas match what was approved (docs/architecture.md, "How a change travels").

The ObserverLink row is the durable queue. Services that change what Canvas should hold upsert rows at the
assignment's generation inside the caller's transaction (`planning`); after commit a task per row is published
(`publishing`). The task body, `link_sync` (in `linking`), re-reads the row, skips stale generations and settled
rows, claims the row with a conditional UPDATE, makes one Canvas change and records the outcome with another
conditional UPDATE that checks the claim (`records`), so duplicate or out-of-order delivery changes nothing twice
and writes exactly one audit event per outcome. The sweeper (`links_sweep`) re-publishes rows nobody touched for a
while: nothing depends on the broker keeping its messages. Pairing codes (`pairing_codes`) and SIS imports (`sis`)
are the other two ways a link reaches Canvas.

Modules import downwards only: common <- planning <- publishing <- records <- pairing_codes <- linking <- sis.
"""

from .common import SyncError
from .linking import link_retry, link_sync
from .pairing_codes import (
    pairing_code_invalidate,
    pairing_code_issue,
    pairing_code_redeem,
    pairing_codes_expire_due,
    pairing_codes_watch,
)
from .planning import (
    PairDesired,
    assignment_link_state_refresh,
    links_plan,
    links_plan_many,
    links_retire,
    pair_desired_state,
    pairs_desired_state,
)
from .publishing import circuit_probe, links_enqueue, links_requeue_held, links_sweep, queue_depth
from .sis import sis_poll, sis_push, sis_users_csv

__all__ = [
    "PairDesired",
    "SyncError",
    "assignment_link_state_refresh",
    "circuit_probe",
    "link_retry",
    "link_sync",
    "links_enqueue",
    "links_plan",
    "links_plan_many",
    "links_requeue_held",
    "links_retire",
    "links_sweep",
    "pair_desired_state",
    "pairing_code_invalidate",
    "pairing_code_issue",
    "pairing_code_redeem",
    "pairing_codes_expire_due",
    "pairing_codes_watch",
    "pairs_desired_state",
    "queue_depth",
    "sis_poll",
    "sis_push",
    "sis_users_csv",
]
