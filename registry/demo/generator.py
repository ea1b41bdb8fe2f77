"""Builds a demo country's registry through the same services officers use, so every rule and the audit log
apply: manufacturers, dealers, state holders, and a few thousand weapons with varied histories (imports,
domestic manufacture, transfers, exports, losses, thefts, seizures, re-marking, destruction).

Deterministic by seed. The data are synthetic: any resemblance of a serial to a real weapon is chance.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from registry.codes import IllicitGround, LicenceKind, OrgKind
from registry.errors import RegistryError
from registry.history import service as history
from registry.history.inputs import EventInput
from registry.markings.rules import MarkingInput
from registry.organisations import service as orgs
from registry.persons import service as persons
from registry.persons.crypto import DataKeys
from registry.profiles import Profile
from registry.reference import service as ref
from registry.reference.service import Catalogue, load_catalogue
from registry.weapons import service as weapons

ACTOR_REGISTRY = "demo:records-officer"
ACTOR_POLICE = "demo:police-armourer"

# Foreign makes a demo importer deals in: (manufacturer code, model, category, calibre).
IMPORT_MIX = [
    ("GLOCK", "17", "SA-PIS", "9x19"),
    ("GLOCK", "19", "SA-PIS", "9x19"),
    ("BERETTA", "92FS", "SA-PIS", "9x19"),
    ("CZ", "75", "SA-PIS", "9x19"),
    ("SIG_DE", "P226", "SA-PIS", "9x19"),
    ("TAURUS", "G2C", "SA-PIS", "9x19"),
    ("REMINGTON", "870", "SA-SHG", "12GA"),
    ("MOSSBERG", "500", "SA-SHG", "12GA"),
    ("RUGER", "10/22", "SA-RIF", ".22LR"),
    ("SAKO", "TRG 42", "SA-RIF", ".338LM"),
    ("SMITH_WESSON", "Model 10", "SA-REV", ".38SPL"),
]
STATE_MIX = [
    ("KALASHNIKOV", "AKM", "SA-ASR", "7.62x39"),
    ("NORINCO", "Type 56", "SA-ASR", "7.62x39"),
    ("FNH", "FAL", "SA-RIF", "7.62x51"),
    ("HK", "G3", "SA-RIF", "7.62x51"),
    ("FNH", "MAG", "SA-LMG", "7.62x51"),
    ("ZASTAVA", "M84", "SA-LMG", "7.62x54R"),
    ("FNH", "M2HB-QCB", "LW-HMG", "12.7x99"),
    ("HK", "MP5", "SA-SMG", "9x19"),
    ("DENEL", "Y3 AGL", "LW-MGL", "40x53"),
]
TOWNS = [
    "Capital district",
    "North province armoury",
    "Port city",
    "Lake region",
    "Border post 7",
    "Central depot",
]


@dataclass
class DemoWorld:
    home: str
    manufacturers: dict[str, uuid.UUID] = field(default_factory=dict)
    dealers: list[uuid.UUID] = field(default_factory=list)
    police: uuid.UUID | None = None
    army: uuid.UUID | None = None
    stockpile: uuid.UUID | None = None
    closed_dealer: uuid.UUID | None = None
    holders: list[uuid.UUID] = field(default_factory=list)
    weapons: int = 0
    events: int = 0


def _org(
    session: Session,
    world: DemoWorld,
    name: str,
    kind: OrgKind,
    reg: str,
    licences: list[LicenceKind],
    manufacturer_code: str | None = None,
) -> uuid.UUID:
    org = orgs.create_organisation(
        session,
        actor=ACTOR_REGISTRY,
        name=name,
        kind=kind,
        country=world.home,
        registration_number=reg,
        address=f"{random.choice(TOWNS)}",
        manufacturer_code=manufacturer_code,
    )
    for i, kind_ in enumerate(licences):
        orgs.add_licence(
            session,
            actor=ACTOR_REGISTRY,
            org_id=org.id,
            number=f"{world.home}-{kind_.value[:3].upper()}-{reg}-{i}",
            kind=kind_,
            issuing_country=world.home,
            issued_on=date(2015, 1, 1),
            expires_on=date(2030, 12, 31),
        )
    return org.id


def build_organisations(session: Session, home: str) -> DemoWorld:
    world = DemoWorld(home=home)
    ref.add_manufacturer(
        session,
        actor=ACTOR_REGISTRY,
        code="DEMO_ARSENAL",
        name="National Ordnance Factory",
        country=home,
        mark_forms=["NOF", "NATIONAL ORDNANCE FACTORY"],
    )
    ref.add_model(
        session,
        actor=ACTOR_REGISTRY,
        manufacturer_code="DEMO_ARSENAL",
        model="NR-1",
        category="SA-ASR",
        calibre="7.62x39",
    )
    ref.add_model(
        session,
        actor=ACTOR_REGISTRY,
        manufacturer_code="DEMO_ARSENAL",
        model="NP-9",
        category="SA-PIS",
        calibre="9x19",
    )
    world.manufacturers["DEMO_ARSENAL"] = _org(
        session,
        world,
        "National Ordnance Factory",
        OrgKind.MANUFACTURER,
        "MF-001",
        [LicenceKind.MANUFACTURE, LicenceKind.EXPORT],
        "DEMO_ARSENAL",
    )
    for i, name in enumerate(
        [
            "Safari Arms & Outfitters Ltd",
            "Lakeside Sporting Guns",
            "Eastern Trading Co.",
            "Highland Hunters Supply",
        ]
    ):
        world.dealers.append(
            _org(
                session,
                world,
                name,
                OrgKind.DEALER if i else OrgKind.EXPORTER_IMPORTER,
                f"DL-{100 + i}",
                [LicenceKind.DEALER, LicenceKind.IMPORT, LicenceKind.EXPORT],
            )
        )
    world.police = _org(session, world, "National Police Service", OrgKind.LAW_ENFORCEMENT, "GOV-POL", [])
    world.army = _org(session, world, "Defence Forces", OrgKind.ARMED_FORCES, "GOV-DEF", [])
    world.stockpile = _org(
        session, world, "Central Arms Depot and Destruction Facility", OrgKind.STOCKPILE, "GOV-DEP", []
    )
    world.closed_dealer = _org(
        session, world, "Old Town Gunsmiths (closed 2022)", OrgKind.DEALER, "DL-099", [LicenceKind.DEALER]
    )
    return world


def _when(rng: random.Random, start_year: int, end: datetime) -> datetime:
    start = datetime(start_year, 1, 1, tzinfo=UTC)
    return start + timedelta(seconds=rng.randrange(int((end - start).total_seconds())))


def _serial(rng: random.Random, maker: str) -> str:
    if maker == "GLOCK":
        return "".join(rng.choices("ABCDEFGHJKLMNPRSTUVWXYZ", k=3)) + f"{rng.randrange(1000):03d}"
    if maker in ("KALASHNIKOV", "NORINCO", "ZASTAVA"):
        return f"{rng.randrange(10**7):07d}"
    return "".join(rng.choices("ABCDEFGHJKLMNPRSTUVWXYZ", k=2)) + f"{rng.randrange(10**6):06d}"


FIRST = [
    "Amina",
    "Brian",
    "Cheruto",
    "David",
    "Esther",
    "Felix",
    "Grace",
    "Hassan",
    "Irene",
    "Joseph",
    "Kamau",
    "Lydia",
    "Moses",
    "Njeri",
    "Otieno",
    "Purity",
    "Rashid",
    "Sarah",
    "Tom",
    "Wanjiru",
]
LAST = ["Achieng", "Barasa", "Chege", "Kiptoo", "Mwangi", "Njoroge", "Odhiambo", "Omondi", "Wafula", "Yusuf"]


def build_holders(
    session: Session, world: DemoWorld, keys: DataKeys, rng: random.Random, n: int = 40
) -> None:
    """Licensed private holders (synthetic people; their data are sealed like real ones)."""
    for i in range(n):
        p = persons.register_person(
            session,
            actor=ACTOR_REGISTRY,
            keys=keys,
            name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            identity_number=f"{20_000_000 + i * 7919}",
            identity_country=world.home,
            birth_date=date(1950 + rng.randrange(50), rng.randrange(1, 13), rng.randrange(1, 28)),
            address=f"{rng.randrange(1, 300)} {rng.choice(['Mombasa', 'Moi', 'Kenyatta', 'Uhuru'])} Road",
            nationality=world.home,
        )
        world.holders.append(p.id)


def generate(
    session: Session,
    *,
    profile: Profile,
    home: str,
    weapons_count: int = 2000,
    seed: int = 7,
    keys: DataKeys | None = None,
    progress: Callable[[int], None] | None = None,
) -> DemoWorld:
    rng = random.Random(seed)
    world = build_organisations(session, home)
    if keys is not None:
        build_holders(session, world, keys, rng)
    ctx = _Ctx(session, world, load_catalogue(session), profile)
    now = datetime.now(UTC) - timedelta(days=1)
    for i in range(weapons_count):
        roll = rng.random()
        try:
            if roll < 0.45:
                _imported_civilian(ctx, rng, now)
            elif roll < 0.70:
                _state_stock(ctx, rng, now)
            elif roll < 0.88:
                _domestic(ctx, rng, now)
            else:
                _recovered(ctx, rng, now)
        except RegistryError as exc:  # a demo must never stop on an unlucky random draw; say so loudly
            raise RuntimeError(f"demo weapon {i} broke a rule: {exc.message}") from exc
        if progress and i % 100 == 0:
            progress(i)
    return world


@dataclass(frozen=True)
class _Ctx:
    """What every step of the demo needs: where to write, the world built so far, the rules."""

    session: Session
    world: DemoWorld
    catalogue: Catalogue
    profile: Profile


def _register(
    ctx: _Ctx,
    *,
    maker: str,
    model: str,
    category: str,
    calibre: str,
    event: EventInput,
    year: int,
    serial: str | None,
    extra_marks=(),
) -> uuid.UUID:
    session, world, catalogue, profile = ctx.session, ctx.world, ctx.catalogue, ctx.profile
    marks: list[MarkingInput] = list(extra_marks)
    country = catalogue.manufacturers[maker].country
    if serial:
        marks.insert(
            0,
            MarkingInput(
                text=f"{maker.replace('_', ' ')} {country} {serial} {year}",
                kind="manufacture",
                component="frame" if category in ("SA-PIS", "SA-REV") else "receiver",
                manufacturer=maker,
                country=country,
                serial=serial,
                year=year,
            ),
        )
    reg = weapons.register(
        session,
        actor=ACTOR_REGISTRY,
        profile=profile,
        home_country=world.home,
        catalogue=catalogue,
        weapon=weapons.WeaponInput(
            category=category,
            make=maker,
            model=model,
            calibre=calibre,
            serial=serial,
            country_of_manufacture=country,
            year_of_manufacture=year,
            frame_material="polymer" if maker == "GLOCK" else "metal",
            mark_carrier="embedded serial plate" if maker == "GLOCK" else None,
        ),
        markings=marks,
        event=event,
    )
    world.weapons += 1
    world.events += 1
    return reg.weapon.id


def _event(
    ctx: _Ctx,
    wid: uuid.UUID,
    ev: EventInput,
    marking: MarkingInput | None = None,
    actor: str = ACTOR_REGISTRY,
) -> None:
    if ev.occurred_at is not None and ev.occurred_at > datetime.now(UTC):
        ev.occurred_at = datetime.now(UTC)  # a follow-up drawn past today happens "now"
    history.record_event(
        ctx.session,
        actor=actor,
        weapon_id=wid,
        event=ev,
        profile=ctx.profile,
        marking=marking,
        catalogue=ctx.catalogue,
        home_country=ctx.world.home,
    )
    ctx.world.events += 1


def _imported_civilian(ctx: _Ctx, rng: random.Random, now: datetime) -> None:
    world, catalogue = ctx.world, ctx.catalogue
    maker, model, category, calibre = rng.choice(IMPORT_MIX)
    t0 = _when(rng, 2008, now - timedelta(days=400))
    dealer = rng.choice(world.dealers)
    year = t0.year - rng.randrange(0, 2)
    wid = _register(
        ctx,
        maker=maker,
        model=model,
        category=category,
        calibre=calibre,
        year=year,
        serial=_serial(rng, maker),
        extra_marks=[
            MarkingInput(
                text=f"{world.home} {t0.year}",
                kind="import",
                component="frame",
                country=world.home,
                year=t0.year,
            )
        ],
        event=EventInput(
            type="imported",
            occurred_at=t0,
            to_org_id=dealer,
            from_country=catalogue.manufacturers[maker].country,
            to_country=world.home,
            documents=[{"kind": "import_licence", "number": f"IMP-{rng.randrange(10**5)}"}],
        ),
    )
    t = t0
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        t = t + timedelta(days=rng.randrange(20, 400))
        if t > now:
            return
        r = rng.random()
        if r < 0.15 and world.holders:
            # Sold to a licensed private holder: custody moves at once (no acceptance step for persons).
            _event(
                ctx,
                wid,
                EventInput(
                    type="transferred",
                    occurred_at=t,
                    from_org_id=dealer,
                    to_person_id=rng.choice(world.holders),
                    documents=[{"kind": "possession_permit", "number": f"PP-{rng.randrange(10**6):06d}"}],
                ),
            )
            return
        if r < 0.45:
            other = rng.choice([d for d in world.dealers if d != dealer])
            _event(
                ctx,
                wid,
                EventInput(type="transferred", occurred_at=t, from_org_id=dealer, to_org_id=other),
            )
            if rng.random() < 0.85:
                _event(
                    ctx,
                    wid,
                    EventInput(type="transfer_accepted", occurred_at=t + timedelta(days=2)),
                )
                dealer = other
            else:
                return  # left pending for the receiver to accept
        elif r < 0.60:
            _event(
                ctx,
                wid,
                EventInput(
                    type="exported",
                    occurred_at=t,
                    from_org_id=dealer,
                    to_country=rng.choice(["UG", "TZ", "RW", "ZA"]),
                    documents=[
                        {
                            "kind": "export_licence",
                            "number": f"EXP-{rng.randrange(10**5)}",
                            "issued_on": (t - timedelta(days=30)).date().isoformat(),
                            "expires_on": (t + timedelta(days=180)).date().isoformat(),
                        }
                    ],
                    data={"final_recipient": "licensed dealer"},
                ),
            )
            return
        elif r < 0.72:
            _event(
                ctx,
                wid,
                EventInput(type="stolen", occurred_at=t, location=rng.choice(TOWNS)),
            )
            if rng.random() < 0.5:
                _event(
                    ctx,
                    wid,
                    EventInput(
                        type="seized",
                        occurred_at=t + timedelta(days=rng.randrange(10, 300)),
                        to_org_id=world.police,
                        location=rng.choice(TOWNS),
                        data={
                            "criminal_offence": True,
                            "illicit_grounds": [IllicitGround.ILLICIT_UNDER_NATIONAL_LAW],
                            "origin_established": "by_tracing",
                        },
                    ),
                    actor=ACTOR_POLICE,
                )
            return
        elif r < 0.80:
            _event(
                ctx,
                wid,
                EventInput(type="lost", occurred_at=t, location=rng.choice(TOWNS)),
            )
            return


def _state_stock(ctx: _Ctx, rng: random.Random, now: datetime) -> None:
    world, catalogue = ctx.world, ctx.catalogue
    maker, model, category, calibre = rng.choice(STATE_MIX)
    holder = world.army if rng.random() < 0.6 else world.police
    t0 = _when(rng, 1998, now - timedelta(days=200))
    wid = _register(
        ctx,
        maker=maker,
        model=model,
        category=category,
        calibre=calibre,
        year=t0.year - rng.randrange(0, 5),
        serial=_serial(rng, maker),
        extra_marks=[
            MarkingInput(
                text=f"{world.home} {t0.year}",
                kind="import",
                component="receiver",
                country=world.home,
                year=t0.year,
            ),
            MarkingInput(
                text=f"{world.home} GOV", kind="ownership", component="receiver", country=world.home
            ),
        ],
        event=EventInput(
            type="imported",
            occurred_at=t0,
            to_org_id=holder,
            to_country=world.home,
            from_country=catalogue.manufacturers[maker].country,
            documents=[{"kind": "end_user_certificate", "number": f"EUC-{rng.randrange(10**5)}"}],
        ),
    )
    r = rng.random()
    t = t0 + timedelta(days=rng.randrange(200, 3000))
    if t > now:
        return
    if r < 0.25:
        _event(
            ctx,
            wid,
            EventInput(
                type="transferred",
                occurred_at=t,
                from_org_id=holder,
                to_org_id=world.stockpile,
                data={"reason": "surplus"},
            ),
        )
        _event(ctx, wid, EventInput(type="transfer_accepted", occurred_at=t))
        if rng.random() < 0.7 and t + timedelta(days=60) < now:
            _event(
                ctx,
                wid,
                EventInput(
                    type="destroyed",
                    occurred_at=t + timedelta(days=60),
                    location="Central depot",
                    data={"method": "cutting and smelting", "witnesses": 2},
                ),
            )
    elif r < 0.32 and category == "SA-SMG":
        # State stock sold to a civilian dealer: first the mark of the transferring state (ITI 8(c)).
        dealer = rng.choice(world.dealers)
        _event(
            ctx,
            wid,
            EventInput(type="marked", occurred_at=t),
            marking=MarkingInput(
                text=f"{world.home} STATE SURPLUS {t.year}",
                kind="state_transfer",
                component="receiver",
                method="laser",
                transferring_state=world.home,
                year=t.year,
                verified=True,
            ),
            actor="demo:marking-operator",
        )
        _event(
            ctx,
            wid,
            EventInput(type="transferred", occurred_at=t, from_org_id=holder, to_org_id=dealer),
        )
        _event(ctx, wid, EventInput(type="transfer_accepted", occurred_at=t))
    elif r < 0.36:
        _event(
            ctx,
            wid,
            EventInput(type="stolen", occurred_at=t, location=rng.choice(TOWNS)),
        )


def _domestic(ctx: _Ctx, rng: random.Random, now: datetime) -> None:
    world = ctx.world
    model, category, calibre = rng.choice([("NR-1", "SA-ASR", "7.62x39"), ("NP-9", "SA-PIS", "9x19")])
    t0 = _when(rng, 2012, now - timedelta(days=100))
    wid = _register(
        ctx,
        maker="DEMO_ARSENAL",
        model=model,
        category=category,
        calibre=calibre,
        year=t0.year,
        serial=f"NOF-{t0.year % 100:02d}-{rng.randrange(10**6):06d}",
        event=EventInput(type="manufactured", occurred_at=t0, to_org_id=world.manufacturers["DEMO_ARSENAL"]),
    )
    t = t0 + timedelta(days=rng.randrange(10, 200))
    if t > now:
        return
    dest = world.police if category == "SA-PIS" else world.army
    _event(
        ctx,
        wid,
        EventInput(
            type="transferred", occurred_at=t, from_org_id=world.manufacturers["DEMO_ARSENAL"], to_org_id=dest
        ),
    )
    _event(ctx, wid, EventInput(type="transfer_accepted", occurred_at=t))


def _recovered(ctx: _Ctx, rng: random.Random, now: datetime) -> None:
    world = ctx.world
    maker, model, category, calibre = rng.choice(STATE_MIX[:2] + IMPORT_MIX[:3])
    t0 = _when(rng, 2016, now - timedelta(days=30))
    kind = rng.choice(["seized", "seized", "found", "surrendered"])
    condition = rng.choice(["intact", "obliterated", "obliterated", "altered", "missing"])
    readable = condition == "intact"
    data = {
        "mark_condition": condition,
        "origin_established": rng.choice(["pending", "by_tracing", "insufficient_information"]),
    }
    if kind == "seized":
        data["criminal_offence"] = rng.random() < 0.8
        data["illicit_grounds"] = [IllicitGround.ILLICIT_UNDER_NATIONAL_LAW] + (
            [IllicitGround.NOT_MARKED] if not readable else []
        )
    wid = _register(
        ctx,
        maker=maker,
        model=model,
        category=category,
        calibre=calibre,
        year=2000 + rng.randrange(0, 20),
        serial=_serial(rng, maker) if readable else None,
        event=EventInput(
            type=kind, occurred_at=t0, to_org_id=world.police, location=rng.choice(TOWNS), data=data
        ),
    )
    t = t0 + timedelta(days=rng.randrange(5, 120))
    if t > now or readable:
        return
    if rng.random() < 0.5:
        serial = f"PD-{t.year}-{rng.randrange(10**5):05d}"
        _event(
            ctx,
            wid,
            EventInput(type="marked", occurred_at=t),
            marking=MarkingInput(
                text=f"{world.home} POLICE {serial}",
                kind="remarking",
                component="receiver" if category != "SA-PIS" else "frame",
                method="dot_peen",
                manufacturer="NATIONAL POLICE",
                country=world.home,
                serial=serial,
                year=t.year,
                station="HQ marking station",
                operator="demo:marking-operator",
                verified=True,
            ),
            actor="demo:marking-operator",
        )
    elif rng.random() < 0.6:
        _event(
            ctx,
            wid,
            EventInput(type="destroyed", occurred_at=t, location="Central depot", data={"method": "cutting"}),
        )
