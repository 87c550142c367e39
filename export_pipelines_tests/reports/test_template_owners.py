"""Whose templates a request may name: the user's own, their teams' by the application's last word, and the
deployment's; judged on the path as written."""

from __future__ import annotations

from export_pipelines.reports.template_owners import owner_refusal, record_teams, recorded_teams, teams_of_roles


def test_team_roles_name_teams_and_other_roles_are_ignored():
    assert teams_of_roles(["admin", "team:finance", "team:Bad Name", "team:", "team:ops-2"]) == {"finance", "ops-2"}


def test_the_application_s_last_word_on_a_user_s_teams_is_kept(tmp_path):
    record_teams("ann", frozenset({"finance", "ops"}), tmp_path)
    record_teams("bob", frozenset({"ops"}), tmp_path)
    record_teams("ann", frozenset({"ops"}), tmp_path)  # the application took ann out of finance
    record_teams("..", frozenset({"ops"}), tmp_path)  # a name that is no file name is never recorded

    assert recorded_teams("ann", tmp_path) == {"ops"} and recorded_teams("bob", tmp_path) == {"ops"}
    assert sorted(p.name for p in (tmp_path / "teams" / "ops" / ".members").iterdir()) == ["ann", "bob"]


def test_only_a_template_s_user_or_team_members_may_name_it():
    members = frozenset({"finance"})
    assert owner_refusal("users/ann/monthly", "ann", members) is None
    assert owner_refusal("teams/finance/monthly", "ann", members) is None
    assert owner_refusal("default", "ann", members) is None and owner_refusal("finance/monthly", "ann") is None
    assert "another user's template" in owner_refusal("users/bob/monthly", "ann", members)
    assert "is not a member" in owner_refusal("teams/ops/monthly.yaml", "ann", members)
