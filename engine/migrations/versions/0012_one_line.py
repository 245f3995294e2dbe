"""merge: the branches of 0001 and 0011 into one line

Revision ID: 0012
Revises: 0003, 0004, 0005, 0006, 0007, 0008, 0011
Create Date: 2026-12-07

Written by hand. 0003-0009 each branched from 0001 and 0010 only depended on 0003-0008, so the history
had seven heads and `alembic revision` refused to run. This revision changes no schema: it only joins
them, so the next revision has one parent (`down_revision = "0012"`). A database upgraded to "heads"
before this revision existed is at all seven and just gains this one.
"""

revision = "0012"
down_revision = ("0003", "0004", "0005", "0006", "0007", "0008", "0011")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
