"""Parquet files of one row group each, joined into one file: the row groups are encoded apart, in parallel.

pyarrow's ParquetWriter encodes a table's columns one after the other, on one core. A row group's
column chunks do not depend on anything outside it (pages, dictionaries and statistics are per
column chunk, and pages hold no file offsets), so row groups encoded into files of their own can be
laid end to end after one ``PAR1``; only the footer (a Thrift ``FileMetaData``, compact protocol)
holds offsets into the file. ``ParquetJoiner`` takes the first part's footer, gives it every part's row
groups with their offsets moved by where the part's bytes land, their ordinals and the total row
count, and writes it. The result is byte for byte the file one ParquetWriter writes for the same row
groups (checked against pyarrow's own output in the tests), except with page indexes, which one
writer puts after the last row group and a joined file keeps after each part's row group.

Offsets moved (Parquet's ``parquet.thrift``): ``RowGroup.file_offset`` (5); ``ColumnChunk.file_offset`` (2),
``offset_index_offset`` (4), ``column_index_offset`` (6); ``ColumnMetaData.data_page_offset`` (9),
``index_page_offset`` (10), ``dictionary_page_offset`` (11), ``bloom_filter_offset`` (14).
"""

from __future__ import annotations

import struct
from typing import BinaryIO

MAGIC = b"PAR1"
# Compact protocol type ids.
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)
_FILE_NUM_ROWS, _FILE_ROW_GROUPS = 3, 4
_GROUP_COLUMNS, _GROUP_FILE_OFFSET, _GROUP_ORDINAL = 1, 5, 7
_CHUNK_OFFSETS, _CHUNK_META = (2, 4, 6), 3
_META_OFFSETS = (9, 10, 11, 14)


class ParquetJoiner:
    """Writes Parquet files of the same schema and properties to ``output`` as one file, their row groups in
    order: ``add`` each part's bytes (their column chunks go out at once), then ``close`` writes the footer.

    Only the footers are kept, so memory holds one part at a time however many there are.
    """

    def __init__(self, output: BinaryIO):
        self._output = output
        self._position = 0
        self._footer: list | None = None
        self._groups: list[list] = []
        self._rows = 0

    def add(self, part) -> None:
        """Append the Parquet file ``part`` (bytes or any buffer: a ``pyarrow.Buffer``)."""
        part = memoryview(part).cast("B")
        footer, footer_start = _footer(part)
        if self._footer is None:
            self._footer = footer
            self._output.write(MAGIC)
            self._position = len(MAGIC)
        shift = self._position - len(MAGIC)
        for group in _field(footer, _FILE_ROW_GROUPS)[2][1]:
            _shift_group(group, shift, len(self._groups))
            self._groups.append(group)
        self._rows += _field(footer, _FILE_NUM_ROWS)[2]
        body = part[len(MAGIC) : footer_start]
        self._output.write(body)
        self._position += len(body)

    def close(self) -> None:
        if self._footer is None:
            raise ValueError("no Parquet file was added")
        _field(self._footer, _FILE_NUM_ROWS)[2] = self._rows
        _field(self._footer, _FILE_ROW_GROUPS)[2] = (_STRUCT, self._groups)
        encoded = bytearray()
        _write_struct(encoded, self._footer)
        self._output.write(encoded + struct.pack("<I", len(encoded)) + MAGIC)


def _footer(part: memoryview) -> tuple[list, int]:
    """The file's FileMetaData, and where it starts."""
    if len(part) < 12 or part[:4] != MAGIC or part[-4:] != MAGIC:
        raise ValueError("not a Parquet file")
    (length,) = struct.unpack_from("<I", part, len(part) - 8)
    start = len(part) - 8 - length
    return _read_struct(part, start)[0], start


def _shift_group(group: list, shift: int, ordinal: int) -> None:
    for field in group:
        if field[0] == _GROUP_FILE_OFFSET and field[2]:
            field[2] += shift
        elif field[0] == _GROUP_ORDINAL:
            field[2] = ordinal
        elif field[0] == _GROUP_COLUMNS:
            for chunk in field[2][1]:
                _shift(chunk, _CHUNK_OFFSETS, shift)
                for inner in chunk:
                    if inner[0] == _CHUNK_META:
                        _shift(inner[2], _META_OFFSETS, shift)


def _shift(fields: list, ids: tuple[int, ...], shift: int) -> None:
    for field in fields:  # 0 is no offset (the magic is there): Arrow leaves ColumnChunk.file_offset at 0
        if field[0] in ids and field[1] == _I64 and field[2]:
            field[2] += shift


def _field(fields: list, field_id: int) -> list:
    """The field ``[id, type, value]`` of a struct; a list's value is ``(element type, [values])``."""
    for field in fields:
        if field[0] == field_id:
            return field
    raise ValueError(f"the Parquet footer has no field {field_id}")


# A struct is a list of [field id, type, value]; a list is (element type, [values]); a map (key type,
# value type, [(key, value)]). Read and written exactly as the compact protocol lays them out.


def _varint(data: memoryview, offset: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, offset
        shift += 7


def _zigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def _read_struct(data: memoryview, offset: int) -> tuple[list, int]:
    fields, last = [], 0
    while True:
        header = data[offset]
        offset += 1
        if header == 0:
            return fields, offset
        kind, delta = header & 0x0F, header >> 4
        if delta:
            last += delta
        else:
            raw, offset = _varint(data, offset)
            last = _zigzag(raw)
        if kind in (_TRUE, _FALSE):
            value = kind == _TRUE
        else:
            value, offset = _read_value(data, offset, kind)
        fields.append([last, kind, value])


def _read_value(data: memoryview, offset: int, kind: int):
    if kind == _BYTE:
        return struct.unpack_from("b", data, offset)[0], offset + 1
    if kind in (_I16, _I32, _I64):
        raw, offset = _varint(data, offset)
        return _zigzag(raw), offset
    if kind == _DOUBLE:
        return struct.unpack_from("<d", data, offset)[0], offset + 8
    if kind == _BINARY:
        size, offset = _varint(data, offset)
        return bytes(data[offset : offset + size]), offset + size
    if kind in (_LIST, _SET):
        header = data[offset]
        offset += 1
        size, element = header >> 4, header & 0x0F
        if size == 15:
            size, offset = _varint(data, offset)
        values = []
        for _ in range(size):
            if element in (_TRUE, _FALSE):  # a bool in a list is one byte: 1 true, 2 false
                values.append(data[offset] == _TRUE)
                offset += 1
            else:
                value, offset = _read_value(data, offset, element)
                values.append(value)
        return (element, values), offset
    if kind == _MAP:
        size, offset = _varint(data, offset)
        if not size:
            return (0, 0, []), offset
        types = data[offset]
        offset += 1
        key_type, value_type, pairs = types >> 4, types & 0x0F, []
        for _ in range(size):
            key, offset = _read_value(data, offset, key_type)
            value, offset = _read_value(data, offset, value_type)
            pairs.append((key, value))
        return (key_type, value_type, pairs), offset
    if kind == _STRUCT:
        return _read_struct(data, offset)
    raise ValueError(f"unknown Thrift compact type {kind} in a Parquet footer")


def _write_varint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _write_zigzag(out: bytearray, value: int) -> None:
    _write_varint(out, (value << 1) ^ (value >> 63))


def _write_struct(out: bytearray, fields: list) -> None:
    last = 0
    for field_id, kind, value in fields:
        if kind in (_TRUE, _FALSE):
            kind = _TRUE if value else _FALSE
        delta = field_id - last
        if 0 < delta <= 15:
            out.append(delta << 4 | kind)
        else:
            out.append(kind)
            _write_zigzag(out, field_id)
        last = field_id
        if kind not in (_TRUE, _FALSE):
            _write_value(out, kind, value)
    out.append(0)


def _write_value(out: bytearray, kind: int, value) -> None:
    if kind == _BYTE:
        out += struct.pack("b", value)
    elif kind in (_I16, _I32, _I64):
        _write_zigzag(out, value)
    elif kind == _DOUBLE:
        out += struct.pack("<d", value)
    elif kind == _BINARY:
        _write_varint(out, len(value))
        out += value
    elif kind in (_LIST, _SET):
        element, values = value
        if len(values) < 15:
            out.append(len(values) << 4 | element)
        else:
            out.append(0xF0 | element)
            _write_varint(out, len(values))
        for item in values:
            if element in (_TRUE, _FALSE):
                out.append(_TRUE if item else _FALSE)
            else:
                _write_value(out, element, item)
    elif kind == _MAP:
        key_type, value_type, pairs = value
        _write_varint(out, len(pairs))
        if pairs:
            out.append(key_type << 4 | value_type)
            for key, item in pairs:
                _write_value(out, key_type, key)
                _write_value(out, value_type, item)
    elif kind == _STRUCT:
        _write_struct(out, value)
