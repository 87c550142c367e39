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


def _grants(catalog: Catalog) -> sa.TableClause:
    return sa.table(catalog.permissions_table, sa.column("user_name"), sa.column("dataset"), sa.column("tenant_id"))


def users_with_grants(connection: sa.Connection, catalog: Catalog, limit: int = 50) -> list[str]:
    """The users who hold any grant, by name: whom the development sign-in offers."""
    grants = _grants(catalog)
    query = sa.select(grants.c.user_name).distinct().order_by(grants.c.user_name).limit(limit)
    return [str(user) for user in connection.execute(query).scalars()]


def granted_tenants(connection: sa.Connection, catalog: Catalog, user: str, dataset: str) -> frozenset[str] | None:
    """The tenants ``user`` may export from ``dataset``; None means every tenant.

    Raises PermissionDenied when the user holds no grant on the dataset at all.
    """
    grants = _grants(catalog)
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
