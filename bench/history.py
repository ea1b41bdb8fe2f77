"""Seed-deterministic weapon histories, streamed, and a loader that records them through the registry's service.

    python -m bench.history --db postgresql+psycopg://postgres@127.0.0.1:5432/iti_bench_x --weapons 20000

Weapon k of `bench.generate.records(n, seed)` gets a history of 1–20 events: its import's `manufactured`
event, then a walk over the lifecycle (`registry/history/lifecycle.py`) whose every prefix the registry
accepts. The loader appends the walk's events to weapons `iti import` already wrote, one
`registry.history.service.record_event` call per event (the call the API and the CLI make), so the rows, the
weapon states and the audit entries are exactly those officers would produce. A batch of weapons is one
transaction, as a busy office's commits would be.

Assumptions (illustrative; we know of no published distribution of event types in a national registry to
take them from). They encode only that most recorded events are changes of holder, that exports, thefts,
losses and seizures are a few per cent each, and that destruction ends a history:

- Number of events: 1 + min(19, G) with G geometric (P(G = g) = 0.8^g × 0.2): a fifth of the weapons have
  only their import record, the mean is 4.94, 1.4 % reach 20. Long histories are weapons that changed hands
  often (guns of the civilian market over decades).
- After the first event, the event drawn depends on the weapon's status and holder (weights, not shares):
  active with a dealer, a person or nobody — transferred to a person 40, to a dealer 25 (dealer to dealer is
  `transferred` pending + `transfer_accepted`, 1 in 10 `transfer_rejected`), exported 6, stolen 5, lost 4,
  seized by the police 4, surrendered 3, deactivated 2 (with a deactivation mark), destroyed 1; active with
  a state holder — destroyed 4, deactivated 2, moved to the other state holder 2, stolen 1, lost 1 (no state
  stock goes to civilians: that needs a state mark, ITI 8(c)); exported — re-imported with an import mark
  (a history goes on after an export only by a re-import); lost — found 1; stolen — seized 7, found 3;
  recovered (the police hold it) — destroyed 6, handed to the state depot 3, deactivated 1; deactivated —
  destroyed 5, surrendered 3, stolen 2.
- `destroyed` ends a history, so it is drawn only as the last event. What these weights give, over the
  first 100,000 weapons of seed 1 (`python -m bench.history --shares --weapons 100000`): mean 4.94 events
  per weapon; of the events after the first, transferred 48.7 %, transfer_accepted 11.0 %,
  transfer_rejected 1.2 %, deactivated 5.9 %, stolen 5.8 %, seized 5.8 %, surrendered 4.6 %, found 4.3 %,
  exported 3.6 %, lost 3.4 %, imported (re-import) 2.9 %, destroyed 2.8 %.
- Dates: the events after the first fall uniformly (sorted) between a day after manufacture and 2026-06-30,
  a fixed date so that the output does not depend on the clock.

Memory is constant in the number of weapons: the walk of weapon k needs only (seed, k) and the import's
record k, which `bench.generate.records` streams.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bench import generate
from registry.history.inputs import EventInput
from registry.markings.rules import MarkingInput

MAX_EVENTS = 20
END = datetime(2026, 6, 30, tzinfo=UTC)
ACTOR = "bench:history"
DEALERS, PERSONS = 40, 300
COUNTRIES = ("UG", "TZ", "RW", "ZA", "ET", "DE", "US")
TOWNS = ("Capital district", "Port city", "Lake region", "Border post 7", "North province", "Central depot")

# Holders in a plan: ("dealer", i), ("person", i), ("police", 0), ("depot", 0), or None (nobody named).
Holder = tuple[str, int] | None
_ORGS = ("dealer", "police", "depot")
_STATE = ("police", "depot")


@dataclass(frozen=True)
class Planned:
    """One event of a walk, with its holders as indices into the world's pools (`World`)."""

    type: str
    at: datetime
    to: Holder = None
    to_country: str | None = None
    from_country: str | None = None
    location: str | None = None
    mark: str | None = None  # "import" or "deactivation": the event records that marking
    data: dict[str, Any] = field(default_factory=dict)


def event_count(rng: random.Random) -> int:
    g = 0
    while g < MAX_EVENTS - 1 and rng.random() < 0.8:
        g += 1
    return 1 + g


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    names = list(weights)
    return rng.choices(names, weights=[weights[n] for n in names])[0]


def _choices(status: str, holder: Holder, left: int) -> dict[str, float]:
    """Weights of the next move for a status and holder with `left` events still to draw."""
    if status == "active" and holder is not None and holder[0] in _STATE:
        w = {"destroyed": 4, "deactivated": 2, "to_state": 2, "stolen": 1, "lost": 1}
    elif status == "active":
        w = {"to_person": 40, "to_dealer": 25, "exported": 6, "stolen": 5, "lost": 4, "seized": 4}
        w |= {"surrendered": 3, "deactivated": 2, "destroyed": 1}
    elif status == "exported":
        w = {"imported": 1}
    elif status == "lost":
        w = {"found": 1}
    elif status == "stolen":
        w = {"seized": 7, "found": 3}
    elif status == "recovered":
        w = {"destroyed": 6, "to_state": 3, "deactivated": 1}
    else:  # deactivated
        w = {"destroyed": 5, "surrendered": 3, "stolen": 2}
    if left > 1:
        w.pop("destroyed", None)  # terminal: only as the last event
    return w


def plan(seed: int, k: int, start: datetime) -> list[Planned]:
    """The history of weapon k after its first event (`manufactured` at `start`): `event_count - 1` events."""
    rng = random.Random(f"history:{seed}:{k}")
    n = event_count(rng)
    lo = start + timedelta(days=1)
    span = max(1, int((END - lo).total_seconds()))
    times = sorted(lo + timedelta(seconds=rng.randrange(span)) for _ in range(n - 1))
    out: list[Planned] = []
    status, holder = "active", None
    while len(out) < n - 1:
        left = n - 1 - len(out)
        move = _pick(rng, _choices(status, holder, left))
        at = times[len(out)]
        events, status, holder = _move(rng, move, at, status, holder, left)
        out += events
    return out


def _transfer(rng: random.Random, to: Holder, at: datetime, holder: Holder, left: int) -> list[Planned]:
    """One `transferred`, followed by its acceptance or refusal when it is between two organisations."""
    first = Planned("transferred", at, to=to, data=_transfer_papers(rng, to))
    if holder is None or holder[0] not in _ORGS or to is None or to[0] not in _ORGS:
        return [first]
    answer = "transfer_rejected" if rng.random() < 0.1 else "transfer_accepted"
    return [first, Planned(answer, at + timedelta(days=rng.randrange(1, 5)))][: max(1, left)]


def _transfer_papers(rng: random.Random, to: Holder) -> dict[str, Any]:
    if to is not None and to[0] == "person":
        return {"permit": f"PP-{rng.randrange(10**6):06d}"}
    return {}


def _move(
    rng: random.Random, move: str, at: datetime, status: str, holder: Holder, left: int
) -> tuple[list[Planned], str, Holder]:
    """The events of one move, and the status and holder after them."""
    if move in ("to_person", "to_dealer", "to_state"):
        if move == "to_person":
            to: Holder = ("person", rng.randrange(PERSONS))
        elif move == "to_dealer":
            to = ("dealer", rng.randrange(DEALERS))
            if holder == to:
                to = ("dealer", (to[1] + 1) % DEALERS)
        else:
            to = ("depot", 0) if holder != ("depot", 0) else ("police", 0)
        if left < 2 and holder is not None and holder[0] in _ORGS and to[0] in _ORGS:
            to = ("person", rng.randrange(PERSONS)) if holder[0] not in _STATE else to
        events = _transfer(rng, to, at, holder, left)
        if events[-1].type == "transfer_rejected":
            return events, status, holder
        return events, "active", to
    if move == "exported":
        country = rng.choice(COUNTRIES)
        licence = {"licence": f"EXP-{rng.randrange(10**5):05d}", "final_recipient": "licensed dealer"}
        return [Planned("exported", at, to_country=country, data=licence)], "exported", None
    if move == "imported":
        dealer: Holder = ("dealer", rng.randrange(DEALERS))
        ev = Planned("imported", at, to=dealer, from_country=rng.choice(COUNTRIES), mark="import")
        return [ev], "active", dealer
    if move in ("stolen", "lost"):
        return [Planned(move, at, location=rng.choice(TOWNS))], move, holder
    if move in ("seized", "found", "surrendered"):
        data: dict[str, Any] = {}
        if move == "seized":
            offence = status == "stolen" or rng.random() < 0.6
            data = {"criminal_offence": offence}
            if offence:
                data["illicit_grounds"] = ["illicit_under_national_law"]
        elif move == "surrendered":
            data = {"criminal_offence": False}
        ev = Planned(move, at, to=("police", 0), location=rng.choice(TOWNS), data=data)
        return [ev], "recovered", ("police", 0)
    if move == "deactivated":
        return [Planned("deactivated", at, mark="deactivation")], "deactivated", holder
    return (
        [Planned("destroyed", at, location="Central depot", data={"method": "cutting"})],
        "destroyed",
        holder,
    )


def histories(n: int, seed: int = 1) -> Iterator[tuple[generate.Record, list[Planned]]]:
    """(import record, events after its first) for the first n weapons of `seed`. Constant memory."""
    for k, record in enumerate(generate.records(n, seed)):
        yield record, plan(seed, k, record.occurred)


def shares(n: int, seed: int = 1) -> dict[str, Any]:
    """Counts of events per weapon and of event types after the first, over the first n weapons."""
    counts: collections.Counter[int] = collections.Counter()
    types: collections.Counter[str] = collections.Counter()
    for _, events in histories(n, seed):
        counts[1 + len(events)] += 1
        types.update(e.type for e in events)
    total = sum(types.values())
    return {
        "weapons": n,
        "mean_events": sum(c * k for k, c in counts.items()) / max(1, n),
        "events_per_weapon": dict(sorted(counts.items())),
        "type_shares": {t: c / total for t, c in types.most_common()},
    }


# --- loading through the service ------------------------------------------------------------------------


@dataclass
class World:
    """The holders the walks refer to, made through the registry's own services (audited like the rest)."""

    home: str
    dealers: list[uuid.UUID]
    persons: list[uuid.UUID]
    police: uuid.UUID
    depot: uuid.UUID

    def holder(self, h: Holder) -> tuple[uuid.UUID | None, uuid.UUID | None]:
        """(to_org_id, to_person_id) of a planned holder."""
        if h is None:
            return None, None
        kind, i = h
        if kind == "person":
            return None, self.persons[i]
        if kind == "dealer":
            return self.dealers[i], None
        return (self.police if kind == "police" else self.depot), None


def build_world(session: Session, *, home: str = "KE") -> World:
    from registry.codes import OrgKind
    from registry.organisations import service as orgs
    from registry.persons import service as persons
    from registry.persons.crypto import DataKeys, generate_data_key

    def org(name: str, kind: OrgKind, reg: str) -> uuid.UUID:
        return orgs.create_organisation(
            session, actor=ACTOR, name=name, kind=kind, country=home, registration_number=reg
        ).id

    # A throw-away key: the benchmark never opens the holders' sealed data, it only needs their rows.
    keys = DataKeys(generate_data_key())
    people = [
        persons.register_person(
            session,
            actor=ACTOR,
            keys=keys,
            name=f"Holder {i}",
            identity_number=f"{30_000_000 + i * 7919}",
            identity_country=home,
            birth_date=date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
        ).id
        for i in range(PERSONS)
    ]
    return World(
        home=home,
        dealers=[org(f"Bench dealer {i}", OrgKind.DEALER, f"BD-{i:03d}") for i in range(DEALERS)],
        persons=people,
        police=org("Bench police", OrgKind.LAW_ENFORCEMENT, "BG-POL"),
        depot=org("Bench state depot", OrgKind.STOCKPILE, "BG-DEP"),
    )


def to_input(p: Planned, world: World) -> tuple[EventInput, MarkingInput | None]:
    """The EventInput (and MarkingInput, if the event records one) an officer would give for `p`."""
    to_org, to_person = world.holder(p.to)
    data = dict(p.data)
    documents: list[dict[str, Any]] = []
    if p.type == "exported":
        issued = p.at.date() - timedelta(days=30)
        documents = [
            {
                "kind": "export_licence",
                "number": data.pop("licence"),
                "issued_on": issued.isoformat(),
                "expires_on": (issued + timedelta(days=180)).isoformat(),
            }
        ]
    elif p.type == "imported":
        documents = [{"kind": "import_licence", "number": f"IMP-{p.at:%y%m%d%H%M}"}]
    elif "permit" in data:
        documents = [{"kind": "possession_permit", "number": data.pop("permit")}]
    event = EventInput(
        type=p.type,
        occurred_at=p.at,
        to_org_id=to_org,
        to_person_id=to_person,
        from_country=p.from_country,
        to_country=p.to_country or (world.home if p.type == "imported" else None),
        location=p.location,
        documents=documents,
        data=data,
    )
    marking: MarkingInput | None = None
    if p.mark:
        text = f"{world.home} {p.at.year}" if p.mark == "import" else f"{world.home} DEACT {p.at.year}"
        marking = MarkingInput(text=text, kind=p.mark, country=world.home, year=p.at.year)
    return event, marking


def weapon_key(r: generate.Record) -> str:
    """The import's uniqueness key of a generated weapon (as bench.run_pg's baseline writes it)."""
    key = generate.text_key
    return f"{key(r.maker_code)}|{r.country}|{key(r.serial)}"


def load(
    sessions: sessionmaker[Session],
    n: int,
    seed: int = 1,
    *,
    batch: int = 200,
    home: str = "KE",
    world: World | None = None,
) -> dict[str, Any]:
    """Append the histories of the first n imported weapons through `record_event`, `batch` weapons per
    transaction. Returns counts and the rate; raises on the first event the registry refuses."""
    from registry.history import service as history
    from registry.profiles import get_profile
    from registry.reference.service import load_catalogue
    from registry.weapons import repository as repo

    profile = get_profile("iti")
    t0 = time.perf_counter()
    if world is None:
        with sessions.begin() as session:
            world = build_world(session, home=home)
    setup_s = time.perf_counter() - t0
    with sessions() as session:
        catalogue = load_catalogue(session)
    events = weapons = 0
    types: collections.Counter[str] = collections.Counter()
    t0 = time.perf_counter()
    stream = histories(n, seed)
    while chunk := [x for _, x in zip(range(batch), stream, strict=False)]:
        with sessions.begin() as session:
            for record, planned in chunk:
                weapon = repo.by_uniqueness_key(session, weapon_key(record))
                if weapon is None:
                    raise LookupError(f"weapon {weapon_key(record)} is not in the database: import it first")
                for p in planned:
                    event, marking = to_input(p, world)
                    history.record_event(
                        session,
                        actor=ACTOR,
                        weapon_id=weapon.id,
                        event=event,
                        marking=marking,
                        profile=profile,
                        catalogue=catalogue,
                        home_country=home,
                    )
                    types[p.type] += 1
                events += len(planned)
                weapons += 1
    seconds = time.perf_counter() - t0
    return {
        "weapons": weapons,
        "events_added": events,
        "events_per_weapon": 1 + events / max(1, weapons),
        "batch_weapons": batch,
        "world_setup_s": setup_s,
        "seconds": seconds,
        "events_per_s": events / seconds if seconds else None,
        "types": dict(types.most_common()),
    }


def main(argv: list[str] | None = None) -> None:
    import json

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weapons", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--db", help="SQLAlchemy URL of a database `iti import` filled with the same weapons")
    p.add_argument("--shares", action="store_true", help="Print the counts and shares of the walks only")
    args = p.parse_args(argv)
    if args.shares or not args.db:
        json.dump(shares(args.weapons, args.seed), sys.stdout, indent=2)
        print()
        return
    from registry.db import make_engine, make_sessionmaker

    engine = make_engine(args.db)
    json.dump(load(make_sessionmaker(engine), args.weapons, args.seed), sys.stdout, indent=2)
    print()
    engine.dispose()


if __name__ == "__main__":
    main()
