"""The dataset catalog: which tables users may export, which columns, and how access is scoped.

The catalog is the only source of column names that ever reach SQL. Request strings are checked
against it and rejected with the list of allowed names; they are never spliced into a query.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

import pyarrow as pa
import yaml

from export_pipelines.display.rules import ColumnRule, fit_rule, parse_rule
from export_pipelines.errors import CatalogError, ExportRequestError

CATALOG_PATH_ENV = "EXPORT_CATALOG_PATH"
COLUMN_TYPES = ("integer", "float", "decimal", "string", "boolean", "date", "timestamp")


@dataclass(frozen=True)
class ColumnSpec:
    """One exportable column: its logical type decides parsing, filtering and rendering."""

    name: str
    type: str
    label: str
    precision: int = 18
    scale: int = 2
    searchable: bool = False  # text a request's ``search`` looks in (export_pipelines/datasets/search.py)
    display: ColumnRule | None = None  # how it is shown unless a template or the request says otherwise

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type chunks are staged with; timestamps are always UTC at rest."""
        return {
            "integer": pa.int64(),
            "float": pa.float64(),
            "decimal": pa.decimal128(self.precision, self.scale),
            "string": pa.string(),
            "boolean": pa.bool_(),
            "date": pa.date32(),
            "timestamp": pa.timestamp("us", tz="UTC"),
        }[self.type]


@dataclass(frozen=True)
class DatasetSpec:
    """A table or view that may be exported, with its pagination key and tenant column."""

    name: str
    title: str
    table: str
    key: str
    tenant_column: str
    columns: dict[str, ColumnSpec] = field(default_factory=dict)
    retention_days: int | None = None  # how long its files are kept; None: the deployment's EXPORT_RETENTION_DAYS
    fulltext: str | None = None  # PostgreSQL text search configuration for ``search``; None: substring match

    @cached_property
    def column_names(self) -> list[str]:
        return list(self.columns)

    def column(self, name: str, field_name: str) -> ColumnSpec:
        """Return the column ``name`` or raise an error naming ``field_name`` and the allowed columns."""
        try:
            return self.columns[name]
        except (KeyError, TypeError):
            raise ExportRequestError(
                field_name,
                f"unknown column {name!r} in dataset {self.name!r}",
                ", ".join(self.column_names),
            ) from None


@dataclass(frozen=True)
class Catalog:
    """Every dataset, plus the table that holds (user, dataset, tenant) grants."""

    datasets: dict[str, DatasetSpec]
    permissions_table: str = "export_permissions"

    def dataset(self, name: str) -> DatasetSpec:
        try:
            return self.datasets[name]
        except KeyError:
            raise ExportRequestError(
                "dataset", f"unknown dataset {name!r}", ", ".join(sorted(self.datasets))
            ) from None


def load_catalog(path: str | os.PathLike | None = None) -> Catalog:
    """Load the catalog from ``path``, else ``$EXPORT_CATALOG_PATH``, else the packaged default."""
    path = path or os.environ.get(CATALOG_PATH_ENV)
    if path:
        source = Path(path)
        if not source.is_file():
            raise CatalogError(f"catalog file {source} does not exist (set by {CATALOG_PATH_ENV})")
        text = source.read_text(encoding="utf-8")
    else:
        source = "export_pipelines/datasets/catalog.yaml"
        text = resources.files("export_pipelines.datasets").joinpath("catalog.yaml").read_text("utf-8")
    try:
        # LibYAML's safe loader where PyYAML has it: ~10x faster; the gate and the API read this at every submission.
        document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except yaml.YAMLError as error:
        raise CatalogError(f"{source}: not valid YAML: {error}") from error
    return parse_catalog(document, str(source))


def parse_catalog(document: dict, source: str = "catalog") -> Catalog:
    """Build a Catalog from its YAML document, naming the exact place of any mistake."""
    if not isinstance(document.get("datasets"), dict) or not document["datasets"]:
        raise CatalogError(f"{source}: 'datasets' must map dataset names to their definitions")
    datasets = {
        name: _parse_dataset(name, spec, f"{source}: datasets.{name}")
        for name, spec in document["datasets"].items()
    }
    return Catalog(datasets, document.get("permissions_table", "export_permissions"))


def _parse_dataset(name: str, spec: dict, where: str) -> DatasetSpec:
    for required in ("table", "key", "tenant_column", "columns"):
        if not spec or required not in spec:
            raise CatalogError(f"{where}: '{required}' is required")
    columns = {}
    for column_name, column in spec["columns"].items():
        column_type = (column or {}).get("type")
        if column_type not in COLUMN_TYPES:
            raise CatalogError(
                f"{where}.columns.{column_name}: type {column_type!r} is not one of {', '.join(COLUMN_TYPES)}"
            )
        searchable = column.get("searchable", False)
        if searchable not in (True, False) or (searchable and column_type != "string"):
            raise CatalogError(f"{where}.columns.{column_name}.searchable: only a string column may be searchable "
                               "(true or false)")
        display = None
        if column.get("format") is not None:
            try:
                display = fit_rule(parse_rule(column["format"], "format"), column_type, "format")
            except ExportRequestError as error:
                raise CatalogError(f"{where}.columns.{column_name}.{error}") from None
        columns[column_name] = ColumnSpec(
            name=column_name,
            type=column_type,
            label=column.get("label", column_name),
            precision=int(column.get("precision", 18)),
            scale=int(column.get("scale", 2)),
            searchable=searchable,
            display=display,
        )
    for role in ("key", "tenant_column"):
        if spec[role] not in columns:
            raise CatalogError(f"{where}.{role}: {spec[role]!r} must be one of the dataset's columns")
    retention_days = spec.get("retention_days")
    if retention_days is not None and (type(retention_days) is not int or retention_days < 1):
        raise CatalogError(f"{where}.retention_days: {retention_days!r} is not a whole number of days (1 or more)")
    fulltext = spec.get("fulltext")
    if fulltext is not None:
        from export_pipelines.datasets.search import FULLTEXT_CONFIG

        if not isinstance(fulltext, str) or not FULLTEXT_CONFIG.match(fulltext):
            raise CatalogError(f"{where}.fulltext: {fulltext!r} is not a text search configuration such as english")
        if not any(column.searchable for column in columns.values()):
            raise CatalogError(f"{where}.fulltext: mark the columns it searches searchable: true")
    return DatasetSpec(
        name=name,
        title=spec.get("title", name),
        table=spec["table"],
        key=spec["key"],
        tenant_column=spec["tenant_column"],
        columns=columns,
        retention_days=retention_days,
        fulltext=fulltext,
    )
