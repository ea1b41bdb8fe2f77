import pytest
from sqlalchemy.orm import Session

from hardware.codes import uii
from hardware.marking.job import JobRefused, MarkField, MarkJob, check_job
from hardware.marking.preview import preview_svg
from hardware.stations.compose import compose_for, compose_job, rules_for
from registry.profiles import EU, ITI, US
from tests.factories import register_weapon, unique_serial, weapon_input
from tests.hardware.decode import decode, svg_symbols


def test_compose_reads_the_weapon_and_follows_the_profile(session: Session) -> None:
    serial = unique_serial("AB")
    reg = register_weapon(session, serial=serial)
    composed = compose_for(session, reg.weapon.id, profile=EU)
    assert composed.payload == f"[)>\x1e06\x1dVGLOCK\x1d1P17\x1dS{serial}\x1d4LAT\x1d23D2020\x1e\x04"
    assert [f.name for f in composed.job.fields] == ["maker", "model", "serial", "country", "year", "code"]
    assert all(f.char_height_mm == 1.6 for f in composed.job.fields)
    assert composed.job.depth_mm == EU.min_depth_mm
    assert uii.parse(composed.payload) == composed.mark


def test_us_profile_uses_one_sixteenth_inch(session: Session) -> None:
    reg = register_weapon(session)
    job = compose_for(session, reg.weapon.id, profile=US).job
    assert job.fields[0].char_height_mm == pytest.approx(25.4 / 16)


def test_off_table_maker_cannot_get_a_data_matrix(session: Session) -> None:
    reg = register_weapon(session, weapon=weapon_input(make="Zorkmid", model="Z1"))
    with pytest.raises(JobRefused, match="no code in the manufacturers table") as err:
        compose_for(session, reg.weapon.id, profile=ITI)
    assert err.value.field == "make"


def _job(session: Session, **changes: object) -> MarkJob:
    reg = register_weapon(session, serial=unique_serial("EU"))
    job = compose_job(reg.weapon, profile=EU).job
    fields = list(job.fields)
    for name, value in changes.items():
        if name == "depth_mm":
            return MarkJob(fields=job.fields, depth_mm=float(value))  # type: ignore[arg-type]
        i = next(n for n, f in enumerate(fields) if f.name == name)
        fields[i] = (
            value if isinstance(value, MarkField) else MarkField(name, str(value), fields[i].char_height_mm)
        )
    return MarkJob(fields=tuple(fields), depth_mm=job.depth_mm)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"serial": MarkField("serial", "X1", 1.2)}, "serial", "at least 1.6 mm"),
        ({"depth_mm": 0.05}, "depth_mm", "below the eu minimum"),
        ({"maker": "GLOCK Ω̃"}, "maker", "contains"),
        ({"maker": "ГЛОК ΓΛΟΚ"}, None, None),  # Cyrillic and Greek letters are allowed in the EU
        ({"maker": "グロック"}, "maker", "Latin, Cyrillic, Greek letters only"),
        ({"year": "2019"}, "year", "differs from the human-readable year"),
        ({"code": "[)>\x1e06\x1dVGLOCK\x1e\x04"}, "code", "payload is malformed"),
    ],
)
def test_a_job_breaking_the_profile_is_refused(
    session: Session, change: dict[str, object], field: str | None, words: str | None
) -> None:
    job = _job(session, **change)
    if words is None:
        check_job(job, rules_for(EU))
        return
    with pytest.raises(JobRefused) as err:
        check_job(job, rules_for(EU))
    assert err.value.field == field
    assert words in err.value.message


def test_missing_year_is_refused_under_eu_but_not_iti(session: Session) -> None:
    reg = register_weapon(session, weapon=weapon_input(year_of_manufacture=None))
    assert compose_job(reg.weapon, profile=ITI).mark.year is None
    with pytest.raises(JobRefused, match="eu profile requires the year"):
        compose_job(reg.weapon, profile=EU)


def test_field_order_is_enforced(session: Session) -> None:
    job = _job(session)
    swapped = (job.fields[2], job.fields[0], job.fields[1], *job.fields[3:])
    with pytest.raises(JobRefused, match="order"):
        check_job(MarkJob(fields=swapped, depth_mm=job.depth_mm), rules_for(EU))


def test_us_serial_pattern_is_applied(session: Session) -> None:
    reg = register_weapon(session, serial=unique_serial("US"))
    job = compose_job(reg.weapon, profile=US).job
    fields = tuple(
        MarkField("serial", "ABC", f.char_height_mm) if f.name == "serial" else f for f in job.fields
    )
    with pytest.raises(JobRefused, match="at least one digit"):
        check_job(MarkJob(fields=fields, depth_mm=job.depth_mm), rules_for(US))


def test_preview_is_to_scale_and_its_code_decodes(session: Session) -> None:
    reg = register_weapon(session, serial=unique_serial("PV"))
    composed = compose_job(reg.weapon, profile=EU)
    svg = preview_svg(composed.job)
    assert 'data-field="serial" data-char-height-mm="1.6"' in svg
    assert f">{reg.weapon.serial}</text>" in svg
    (img,) = svg_symbols(svg)
    assert decode(img) == [("DataMatrix", composed.payload.encode())]
