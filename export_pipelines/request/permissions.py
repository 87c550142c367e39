"""Who may see which rows: grants of (user, dataset, tenant) in the source database.

A grant's dataset or tenant may be '*' (every dataset, every tenant). Rows of tenants a user is
not granted are never fetched; how many the request's filters would have matched among them is
counted and reported, so a partial export is never silent.
"""

from __future__ import annotations

import sqlalchemy as sa

from export_pipelines.datasets.catalog import Catalog
from export_pipelines.errors import PermissionDenied

EVERYTHING = "*"


def granted_tenants(connection: sa.Connection, catalog: Catalog, user: str, dataset: str) -> frozenset[str] | None:
    """The tenants ``user`` may export from ``dataset``; None means every tenant.

    Raises PermissionDenied when the user holds no grant on the dataset at all.
    """
    grants = sa.table(
        catalog.permissions_table, sa.column("user_name"), sa.column("dataset"), sa.column("tenant_id")
    )
    rows = connection.execute(
        sa.select(grants.c.tenant_id).where(
            grants.c.user_name == user, grants.c.dataset.in_([dataset, EVERYTHING])
        )
    ).scalars().all()
    if not rows:
        raise PermissionDenied(
            f"user {user!r} has no grant on dataset {dataset!r}; ask an administrator for access "
            f"(grants live in the {catalog.permissions_table!r} table)"
        )
    tenants = frozenset(rows)
    return None if EVERYTHING in tenants else tenants
