"""Ranged downloads of a >3 MiB encrypted export, checked against the plaintext as a Python slice."""

from __future__ import annotations

import random
from urllib.parse import urlsplit

import pytest
import requests

from export_pipelines_tests.delivery.conftest import sha256


@pytest.fixture(scope="module")
def big(world):
    """(url of the file, its plaintext, its ETag, the segment layout)."""
    link = world.link(world.big)
    key = world.storage.inner.keyset.primary
    plain_segment = key.segment_size - 16
    first_segment = plain_segment - key.header_size()
    data = world.plaintext(world.big)
    boundaries = [edge for edge in (first_segment + index * plain_segment for index in range(4)) if edge < len(data)]
    assert len(boundaries) >= 3, "the file spans at least four segments"
    url = world.server.url + urlsplit(link.url).path + "/file"
    return url, data, f'"{world.big.sha256}"', boundaries


def fetch(url: str, **headers) -> requests.Response:
    return requests.get(url, headers=headers, timeout=60)


def expected(data: bytes, spec: str) -> tuple[int, int]:
    """A Python reading of one byte-range-spec: (start, end exclusive)."""
    first, last = spec.split("-")
    if not first:
        return max(len(data) - int(last), 0), len(data)
    return int(first), min(int(last) + 1, len(data)) if last else len(data)


def test_random_suffix_open_ended_and_last_byte_ranges_match_the_plaintext(world, clock, big):
    url, data, _, boundaries = big
    size, rng = len(data), random.Random(7)
    specs = [f"{a}-{a + rng.randrange(1, 300_000)}" for a in (rng.randrange(size) for _ in range(40))]
    specs += [f"-{rng.randrange(1, size)}" for _ in range(5)] + [f"{rng.randrange(size)}-" for _ in range(5)]
    specs += [f"{size - 1}-{size - 1}", f"{size - 1}-", "-1", "0-0", f"0-{size * 2}", f"-{size * 2}", "0-"]
    for edge in boundaries:
        specs += [f"{edge - 1}-{edge}", f"{edge}-{edge}", f"{edge - 1}-{edge - 1}", f"{edge - 5000}-{edge + 5000}"]
    specs.append(f"{boundaries[0] - 10}-{boundaries[2] + 10}")  # across three segment boundaries

    for spec in specs:
        response = fetch(url, Range=f"bytes={spec}")
        start, end = expected(data, spec)

        assert response.status_code == 206, spec
        assert response.content == data[start:end], spec
        assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{size}", spec
        assert response.headers["content-length"] == str(end - start)


def test_a_small_range_decrypts_only_the_segments_covering_it(world, clock, big):
    url, data, _, boundaries = big
    inner = world.storage.inner.inner
    reads = []
    original = inner.read_range

    def counting(key, start, length):
        reads.append((start, length))
        return original(key, start, length)

    inner.read_range = counting
    try:
        response = fetch(url, Range=f"bytes={boundaries[1] + 100}-{boundaries[1] + 109}")
    finally:
        del inner.read_range

    assert response.status_code == 206 and response.content == data[boundaries[1] + 100 : boundaries[1] + 110]
    segment = world.storage.inner.keyset.primary.segment_size
    # Offset 0: the header, and segment 0 once to identify the key (a local folder records no key id).
    assert [read for read in reads if read[0] > 0] == [(2 * segment, segment)], "only the covering segment"


def test_if_range_gives_the_range_when_the_etag_matches_and_the_whole_file_otherwise(world, clock, big):
    url, data, etag, _ = big

    matching = fetch(url, Range="bytes=100-199", **{"If-Range": etag})
    stale = fetch(url, Range="bytes=100-199", **{"If-Range": '"0123"'})
    weak = fetch(url, Range="bytes=100-199", **{"If-Range": f"W/{etag}"})
    dated = fetch(url, Range="bytes=100-199", **{"If-Range": "Tue, 01 Jan 2030 00:00:00 GMT"})

    assert matching.status_code == 206 and matching.content == data[100:200]
    for whole in (stale, weak, dated):
        assert whole.status_code == 200 and whole.content == data and "content-range" not in whole.headers


def test_several_ranges_get_the_whole_file(world, clock, big):
    url, data, _, _ = big

    response = fetch(url, Range="bytes=0-9,500-599,-10")

    assert response.status_code == 200 and response.content == data
    assert response.headers["content-length"] == str(len(data))


@pytest.mark.parametrize("spec", ["bytes=99999999-", "bytes=99999999-100000000", "bytes=-0"])
def test_an_unsatisfiable_range_is_416_with_the_size(world, clock, big, spec):
    url, data, _, _ = big

    response = fetch(url, Range=spec)

    assert response.status_code == 416 and response.content == b""
    assert response.headers["content-range"] == f"bytes */{len(data)}"


@pytest.mark.parametrize("spec", ["bytes=abc", "items=0-5", "bytes=9-3", "bytes="])
def test_a_malformed_range_is_ignored(world, clock, big, spec):
    url, data, _, _ = big

    response = fetch(url, Range=spec)

    assert response.status_code == 200 and response.content == data


def test_a_download_interrupted_at_40_percent_resumes_to_a_byte_identical_file(world, clock, big):
    url, data, etag, _ = big
    target = int(len(data) * 0.4)
    received = bytearray()
    with requests.get(url, stream=True, timeout=60) as first:
        assert first.status_code == 200
        for block in first.iter_content(64 * 1024):
            received += block
            if len(received) >= target:
                break
    del received[target:]  # what a browser had written when the connection dropped

    rest = fetch(url, Range=f"bytes={len(received)}-", **{"If-Range": first.headers["etag"]})

    assert rest.status_code == 206
    assert rest.headers["content-range"] == f"bytes {target}-{len(data) - 1}/{len(data)}"
    assert sha256(bytes(received) + rest.content) == world.big.sha256 == etag.strip('"')
