"""Bounds on what a protocol author or a registry file can hand the system (issue 14, item 4): rule text (length,
nesting; 90 nested parentheses used to crash the parser) and ``registry import`` files (size, study size, list
length), each refused with a message naming the rule or the file's path; nothing is written."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from trialdesk.adapters.ctgov import read_studies
from trialdesk.adapters.db.tables import trials
from trialdesk.adapters.protocol_files import packaged_protocol_path, parse_protocol_text
from trialdesk.domain.errors import InvalidInput
from trialdesk.domain.expr import ExprSyntaxError, Scope, evaluate, parse
from trialdesk.domain.expr.parser import MAX_NESTING, MAX_RULE_CHARS, MAX_TREE_DEPTH, tree_depth
from trialdesk.entrypoints.cli.main import app as cli
from trialdesk.settings import Settings

runner = CliRunner()
INC_04 = "rule: hr_status in ['positive', 'negative']"


def nested(levels: int) -> str:
    return "(" * levels + "true" + ")" * levels


def test_rule_nesting_and_length_are_bounded():
    with pytest.raises(ExprSyntaxError, match=f"nested deeper than {MAX_NESTING} levels"):
        parse(nested(90))
    with pytest.raises(ExprSyntaxError, match="nested deeper"):
        parse("not " * 200 + "true")
    with pytest.raises(ExprSyntaxError, match="nested deeper"):
        parse("-" * 200 + "1")
    with pytest.raises(ExprSyntaxError, match=f"at most {MAX_RULE_CHARS}"):
        parse("a or " * 1000 + "a")
    with pytest.raises(ExprSyntaxError, match=f"deeper than {MAX_TREE_DEPTH} levels"):
        parse(" and ".join(["true"] * (MAX_TREE_DEPTH + 5)))  # short enough, but a chain as deep as a nest


def test_rules_within_the_bounds_parse_and_evaluate():
    assert tree_depth(parse(nested(MAX_NESTING - 1))) == 1  # parentheses add no node
    chain = parse(" and ".join(["true"] * (MAX_TREE_DEPTH - 1)))
    assert tree_depth(chain) == MAX_TREE_DEPTH - 1
    assert evaluate(chain, Scope({})) is True  # the evaluator's recursion copes with the deepest tree allowed


def test_a_protocol_rule_too_deep_is_refused_naming_the_rule():
    text = packaged_protocol_path().read_text(encoding="utf-8")
    assert INC_04 in text
    with pytest.raises(InvalidInput) as refused:
        parse_protocol_text(text.replace(INC_04, "rule: " + nested(90)))
    assert "criteria.INC-04.rule: nested deeper" in refused.value.message


def _study(shared_dir) -> dict:
    return json.loads((shared_dir / "data" / "ctgov" / "NCT03275402.json").read_text(encoding="utf-8"))


def test_registry_files_studies_and_lists_are_bounded(tmp_path, shared_dir):
    study = _study(shared_dir)
    arms = study["protocolSection"]["armsInterventionsModule"]["armGroups"]
    study["protocolSection"]["armsInterventionsModule"]["armGroups"] = arms * (50_000 // len(arms) + 1)
    many = tmp_path / "arms.json"
    many.write_text(json.dumps(study), encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        big = 64 * 1024 * 1024
        read_studies(many, settings=Settings(registry_max_file_bytes=big, registry_max_study_bytes=big))
    [problem] = refused.value.problems
    assert problem.path == "arms.json:$.protocolSection.armsInterventionsModule.armGroups"
    assert "at most 5000" in problem.message
    with pytest.raises(InvalidInput, match="the study is .* bytes; at most 4194304"):
        read_studies(many, settings=Settings(registry_max_file_bytes=64 * 1024 * 1024))  # the study size first
    huge = tmp_path / "huge.json"
    with huge.open("wb") as f:
        f.truncate(30 * 1024 * 1024)  # 30 MB (sparse): refused on its size, never read
    with pytest.raises(InvalidInput, match="huge.json: the file is 31457280 bytes; at most 16777216"):
        read_studies(huge)
    small = tmp_path / "small.json"
    small.write_text(json.dumps(_study(shared_dir)), encoding="utf-8")
    with pytest.raises(InvalidInput, match="holds 14 items; at most 10 are accepted"):
        read_studies(small, settings=Settings(registry_max_list_items=10))  # the bound is a setting
    assert [p.nct_id for p in read_studies(small)] == ["NCT03275402"]


def test_registry_import_cli_refuses_and_writes_nothing(tmp_path, shared_dir, db_url, monkeypatch):
    from trialdesk.bootstrap import bootstrap

    td = bootstrap(db_url)
    with td.uow() as uow:
        before = uow.session.execute(select(func.count()).select_from(trials)).scalar_one()
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_study(shared_dir)), encoding="utf-8")
    huge = tmp_path / "huge.json"
    with huge.open("wb") as f:
        f.truncate(30 * 1024 * 1024)
    result = runner.invoke(cli, ["registry", "import", str(good), str(huge), "--db", db_url])
    assert result.exit_code == 2, result.output
    assert "huge.json" in result.output and "at most 16777216" in result.output
    with td.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(trials)).scalar_one() == before
    td.dispose()
