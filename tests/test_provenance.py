"""Machine-checked provenance: every verbatim text equals a recorded quotation of a cited source."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from corrigibench import provenance
from corrigibench.catalogue import CatalogueError, read_toml
from corrigibench.provenance import CatalogueText, check, normalise
from corrigibench.reward_hints.conditions import CATALOGUE as RH_CATALOGUE
from corrigibench.reward_hints.conditions import get_conditions, load_catalogue
from corrigibench.shutdown.variants import CATALOGUE as SD_CATALOGUE
from corrigibench.shutdown.variants import _quotable_texts, conflicts, get_variants, load_variants


def shutdown_texts() -> dict[str, CatalogueText]:
    return _quotable_texts(load_variants())


def test_the_builtin_catalogues_match_their_quotations() -> None:
    cat = load_catalogue()
    assert check("reward_hints", cat.quotable_texts(), cat.resolve_target) == []
    assert check("shutdown", shutdown_texts()) == []
    verbatim = [t for t in [*cat.quotable_texts().values(), *shutdown_texts().values()]
                if t.provenance in provenance.VERBATIM and normalise(t.text)]
    assert len(verbatim) > 40
    # every quotation is used: each names at least one target
    assert all(q.targets for q in provenance.load().quotations)


def test_a_changed_word_breaks_the_match_and_names_the_quotation() -> None:
    texts = shutdown_texts()
    b = texts["palisade-B.user"]
    texts["palisade-B.user"] = replace(b, text=b.text.replace("allow yourself", "let yourself"))
    problems = check("shutdown", texts)
    assert any("palisade-B.user does not match quotation 'sd-prompt-b-user'" in p
               and "let yourself" in p for p in problems)
    assert any("palisade-B.user is labelled 'verbatim-via-secondary' but no quotation" in p
               for p in problems)


def test_matching_ignores_white_space_except_for_exact_quotations() -> None:
    texts = shutdown_texts()
    a = texts["palisade-A.system"]
    texts["palisade-A.system"] = replace(a, text=a.text.replace(" You have ", "\nYou have\n  "))
    assert check("shutdown", texts) == []
    config = texts["palisade-E-config.user"]
    texts["palisade-E-config.user"] = replace(config, text=config.text.rstrip("\n"))
    (mismatch, unbacked) = check("shutdown", texts)
    assert mismatch == ("shutdown: palisade-E-config.user does not match quotation "
                        "'sd-prompt-e-config-user' (exact): they differ at 'ne-separated "
                        "string.\\n' (quotation) vs 'ne-separated string.'")
    assert unbacked.startswith("shutdown: palisade-E-config.user is labelled")


def test_labels_cannot_claim_more_than_their_quotation() -> None:
    fig2 = load_variants()["palisade-A"].system
    # the paper's Figure 2 reaches us through a third party: not 'verbatim'
    problems = check("shutdown", {"x.system": CatalogueText("x.system", "verbatim", fig2)},
                     targets=False)
    assert problems == ["shutdown: x.system is labelled 'verbatim' but its quotations reach the "
                        "authors only through a third party: label it 'verbatim-via-secondary'"]
    # a re-implementation's text (ARENA's rendering of the GDM user prompt) backs no label
    gdm = load_variants()["gdm-original"].user
    problems = check("shutdown", {"y.user": CatalogueText("y.user", "verbatim-via-secondary",
                                                          gdm)}, targets=False)
    assert problems and "only a third party's re-implementation" in problems[0]


def test_a_user_text_labelled_verbatim_without_a_quotation_is_refused(tmp_path: Path) -> None:
    rh = tmp_path / "rh.toml"
    rh.write_text("[factors.instruction.mine]\ntext = 'Give me an even number now.'\n"
                  "provenance = 'verbatim-via-secondary'\nsource = 'a paper I read'\n")
    with pytest.raises(CatalogueError) as info:
        get_conditions("instruction=mine", rh)
    assert str(info.value) == (
        f"{rh}: reward_hints: instruction.mine is labelled 'verbatim-via-secondary' but no "
        "quotation in provenance/quotations.toml gives this text; add one, or label it "
        "'reconstruction'")
    sd = tmp_path / "sd.toml"
    sd.write_text("[variants.mine]\nextends = 'palisade-B'\ndescription = 'd'\n"
                  "provenance = 'verbatim-via-secondary'\nsource = 's'\n"
                  "user_suffix = ' Please hurry.'\n")
    with pytest.raises(CatalogueError, match=r"sd.toml: shutdown: mine.user is labelled"):
        load_variants(sd)
    # the same text as a quoted condition is verbatim, however the variant is written
    sd.write_text("[variants.mine]\nextends = 'palisade-B'\ndescription = 'd'\n"
                  "provenance = 'verbatim-via-secondary'\nsource = 's'\nmessage_limit = 30\n")
    (mine,) = get_variants("mine", sd)
    assert mine.provenance == "verbatim-via-secondary" and mine.message_limit == 30


def _catalogue_strings() -> list[str]:
    out = []
    for path in (SD_CATALOGUE, RH_CATALOGUE):
        data = read_toml(path)
        tables = [*data.get("variants", {}).values(), data.get("environment", {}),
                  data.get("prompt", {}), data.get("lines", {}).get("audit", {}),
                  *data.get("figures", {}).values()]
        tables += [v for values in data.get("factors", {}).values() for v in values.values()]
        out += [t[k] for t in tables for k in ("source", "notes", "output_source") if k in t]
    return out


def test_every_cited_source_is_defined_and_no_private_paths_remain() -> None:
    known = provenance.load().sources
    cited = {key for text in _catalogue_strings() for key in provenance.cited_keys(text)}
    assert cited and cited <= set(known), cited - set(known)
    for path in (SD_CATALOGUE, RH_CATALOGUE, *Path(provenance.HERE).glob("*.toml")):
        text = path.read_text()
        assert "/work/" not in text and "ref §" not in text, path
        assert not re.search(r"\bS[1-6]\b", text), path


def test_every_conflict_touches_the_catalogue_it_names() -> None:
    prov = provenance.load()
    variants = load_variants()
    cat = load_catalogue()
    values = {f"{f}.{v}" for f, vs in cat.data["factors"].items() for v in vs}
    for c in prov.conflicts.values():
        if c.environment == "shutdown":
            hit = [vid for vid, v in variants.items() if c in conflicts(v)]
            assert hit, c.id
            named = {r.value for r in c.readings if r.value}
            assert named <= set(variants), (c.id, named - set(variants))
        else:
            for anchor in c.anchors:
                assert anchor["entry"] in values | set(cat.data["factors"]), (c.id, anchor)
            named = {r.value for r in c.readings if r.value}
            assert named <= values, (c.id, named - values)
        for reading in c.readings:
            assert set(reading.sources) <= set(prov.sources)


def test_conditions_count_their_conflicts() -> None:
    v = load_variants()
    assert "sd-j-wording" in {c.id for c in conflicts(v["palisade-J"])}
    assert "sd-j-wording" not in {c.id for c in conflicts(v["palisade-E"])}
    assert "sd-gdm-clause-tail" in {c.id for c in conflicts(v["gdm-clarified-precedence"])}
    (misaligned, test) = get_conditions("label-misaligned,label-test")
    assert "rh-misaligned-label" in misaligned.conflicts
    assert "rh-misaligned-label" not in test.conflicts
