"""Tag normalisation: lower-case, trimmed, spaces to '-', 1 to 40 of a-z 0-9 - _."""

from __future__ import annotations

import pytest

from core.errors import DomainError
from democracy.tags import normalize_tag, normalize_tags


@pytest.mark.parametrize(
    ("raw", "tag"),
    [
        ("budget", "budget"),
        ("  Budget Plans ", "budget-plans"),
        ("PARKS", "parks"),
        ("road\t  works", "road-works"),
        ("snake_case-2", "snake_case-2"),
        ("x" * 40, "x" * 40),
    ],
)
def test_a_tag_is_normalised(raw, tag):
    assert normalize_tag(raw) == tag


@pytest.mark.parametrize("raw", ["", "   ", "x" * 41, "café", "a/b", "half.way", "#tag", "ünï"])
def test_a_tag_that_cannot_be_normalised_is_refused_by_name(raw):
    with pytest.raises(DomainError) as raised:
        normalize_tag(raw)
    assert raised.value.code == "INVALID_TAG"
    assert raised.value.field == "tags"
    assert repr(raw) in raised.value.message


@pytest.mark.parametrize("raw", [None, 5, ["budget"]])
def test_a_tag_that_is_not_text_is_refused(raw):
    with pytest.raises(DomainError) as raised:
        normalize_tag(raw)
    assert raised.value.code == "INVALID_TAG"


def test_the_refusal_names_the_field_given():
    with pytest.raises(DomainError) as raised:
        normalize_tag("!", field="ballotTags")
    assert raised.value.field == "ballotTags"


def test_tags_are_sorted_without_repeats():
    assert normalize_tags(["Parks", "budget", " parks ", "Budget"]) == ["budget", "parks"]


def test_no_tags_are_no_tags():
    assert normalize_tags([]) == []


def test_one_bad_tag_refuses_them_all():
    with pytest.raises(DomainError) as raised:
        normalize_tags(["budget", "bad tag!", "parks"])
    assert "'bad tag!'" in raised.value.message
