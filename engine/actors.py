"""Who is acting: staff, a customer holding a tracking token, or the system."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("reception", "technician", "qa", "process_owner", "manager")
STAFF_TASK_ROLES = ("reception", "technician", "qa")
# Who hands the customer their tracking link (reception at intake, managers, the system's messages); the token
# is the customer's credential, so technicians and QA never see it.
TRACKING_LINK_ROLES = ("reception", "manager", "system")
# An installer's, dealer's or distributor's account (issue 17): sees its organisation's RMAs and batches, nothing
# else; it has no centre, so every staff check by centre refuses it (engine.services.partners).
PARTNER = "partner"


@dataclass(frozen=True)
class Actor:
    username: str
    role: str
    centre: str | None = None
    user_id: int | None = None
    organisation: int | None = None  # a partner's organisation (role `partner`); None for everyone else

    @property
    def is_partner(self) -> bool:
        return self.role == PARTNER

    @property
    def is_global(self) -> bool:
        """Managers and process owners without a centre see every centre."""
        return self.centre is None and self.role in ("manager", "process_owner", "system")

    def may_see_centre(self, centre: str) -> bool:
        return not self.is_partner and (self.is_global or self.centre == centre)

    @property
    def sends_tracking_link(self) -> bool:
        """Whether the customer's tracking token and link may be shown to this actor."""
        return self.role in TRACKING_LINK_ROLES

    @classmethod
    def system(cls) -> Actor:
        return cls("system", "system")

    @classmethod
    def customer(cls, rma_number: str) -> Actor:
        return cls(f"customer:{rma_number}", "customer")
