"""A team's PDF templates over real HTTP: shared by the members the application names (role team:<name>),
refused to everyone else, at the API and where a request names a template."""

from __future__ import annotations

import pytest

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.errors import ExportRequestError
from export_pipelines.request.model import ExportRequest
from export_pipelines.request.validation import check_request

MONTHLY = {"title": "Finance monthly", "totals": ["amount"]}
FINANCE = ["team:finance"]


@pytest.fixture
def template_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPORT_REPORT_TEMPLATE_DIR", str(tmp_path))
    return tmp_path


def pdf_export(template: str) -> dict:
    return {"dataset": "orders", "columns": ["order_id", "amount"], "format": "pdf",
            "format_options": {"template": template}}  # fmt: skip


def test_members_save_list_preview_and_delete_a_team_template_and_others_are_refused(api_world, template_dir):
    with api_world.client("analyst", FINANCE) as member, api_world.client("admin") as outsider:
        saved = member.put("/templates/monthly", params={"team": "finance"}, json=MONTHLY)
        own = member.put("/templates/mine", json=MONTHLY)
        listed = member.get("/templates").json()["items"]
        theirs = outsider.get("/templates").json()["items"]
        foreign_save = outsider.put("/templates/monthly", params={"team": "finance"}, json=MONTHLY)
        foreign_preview = outsider.post("/templates/preview", json={"template": MONTHLY, "team": "finance"})
        foreign_delete = outsider.delete("/templates/monthly", params={"team": "finance"})
        preview = member.post("/templates/preview", json={"template": MONTHLY, "team": "finance", "rows": 5})
        assert (template_dir / "teams" / "finance" / "monthly.yaml").is_file()  # still there after the refusals
        deleted = member.delete("/templates/monthly", params={"team": "finance"})

    assert saved.status_code == 201 and saved.json()["template"] == "teams/finance/monthly"
    assert own.status_code == 201
    assert listed == [
        {"name": "mine", "scope": "user", "template": "users/analyst/mine"},
        {"name": "monthly", "scope": "team", "team": "finance", "template": "teams/finance/monthly"},
    ]
    assert theirs == []
    assert [foreign_save.status_code, foreign_preview.status_code, foreign_delete.status_code] == [403, 403, 403]
    assert "not a member of the team 'finance'" in foreign_save.json()["detail"]
    assert preview.status_code == 200 and preview.content.startswith(b"%PDF")
    assert deleted.status_code == 204 and not (template_dir / "teams" / "finance" / "monthly.yaml").exists()


def test_only_members_may_name_a_team_template_in_a_request_and_only_its_user_a_users(api_world, template_dir):
    with api_world.client("analyst", FINANCE) as member:
        member.put("/templates/monthly", params={"team": "finance"}, json=MONTHLY)
        member.put("/templates/mine", json=MONTHLY)
        accepted = member.post("/exports", json=pdf_export("teams/finance/monthly"))
        offered = member.get("/datasets").json()["templates"]
    with api_world.client("admin") as outsider:
        offered_to_outsider = outsider.get("/datasets").json()["templates"]
        team_refused = outsider.post("/exports", json=pdf_export("teams/finance/monthly"))
        user_refused = outsider.post("/exports", json=pdf_export("users/analyst/mine"))
        missing = outsider.post("/exports", json=pdf_export("users/analyst/no-such"))

    assert accepted.status_code == 202, accepted.text
    assert {"default", "teams/finance/monthly", "users/analyst/mine"} <= set(offered)
    assert "default" in offered_to_outsider
    assert not [name for name in offered_to_outsider if name.startswith(("teams/", "users/"))]
    for refused in (team_refused, user_refused, missing):  # the same answer whether the template exists or not
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "format_options.template"
    assert "not a member" in team_refused.json()["errors"][0]["detail"]
    assert "another user's template" in user_refused.json()["errors"][0]["detail"]
    assert "another user's template" in missing.json()["errors"][0]["detail"]

    # The gate and the run check without a token: by the application's last word, kept when the member called.
    request = ExportRequest(**pdf_export("teams/finance/monthly"), user="analyst")
    check_request(request, load_catalog())
    with api_world.client("analyst") as former_member:  # the application no longer says analyst is in finance
        assert former_member.get("/templates").json()["items"] == [
            {"name": "mine", "scope": "user", "template": "users/analyst/mine"}
        ]
    with pytest.raises(ExportRequestError, match="not a member"):
        check_request(request, load_catalog())
