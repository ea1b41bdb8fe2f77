"""`iti org …` and `iti person …`: the parties in a weapon's history."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

import typer

from cli.common import actor, emit, engine, parse_uuid, settings, table, transaction
from cli.i18n import _, label, ngettext
from registry.db import make_sessionmaker
from registry.organisations import service as orgs
from registry.persons import repository as persons_repo
from registry.persons import rotation
from registry.persons import service as persons
from registry.persons.crypto import load_or_create_data_keys, rotate_data_keys

org_app = typer.Typer(help="Manufacturers, dealers, state holders and their licences.", no_args_is_help=True)
person_app = typer.Typer(
    help="Holders. Personal data is encrypted; every read is audited with its purpose.", no_args_is_help=True
)


def org_dict(o: Any) -> dict[str, Any]:
    return {
        "id": o.id,
        "name": o.name,
        "kind": o.kind,
        "country": o.country,
        "registration_number": o.registration_number,
        "closed_at": o.closed_at,
        "records_custodian_id": o.records_custodian_id,
        "version": o.version,
    }


@org_app.command("add")
def org_add(
    name: Annotated[str, typer.Argument()],
    kind: Annotated[
        str,
        typer.Option(
            help="manufacturer, exporter_importer, dealer, government_agency, stockpile, "
            "armed_forces, law_enforcement, other"
        ),
    ],
    country: Annotated[str, typer.Option()],
    registration_number: Annotated[str | None, typer.Option("--reg-no")] = None,
    address: Annotated[str, typer.Option()] = "",
    manufacturer_code: Annotated[str | None, typer.Option(help="Its code in the manufacturers table")] = None,
) -> None:
    """Register an organisation."""
    with transaction(writes=True) as session:
        o = orgs.create_organisation(
            session,
            actor=actor(),
            name=name,
            kind=kind,
            country=country,
            registration_number=registration_number,
            address=address,
            manufacturer_code=manufacturer_code,
        )
        data = org_dict(o)
    emit(
        data,
        human=_("[green]registered[/] %(kind)s %(name)s (%(id)s)", kind=label(o.kind), name=o.name, id=o.id),
    )


@org_app.command("list")
def org_list(
    kind: Annotated[str | None, typer.Option()] = None,
    country: Annotated[str | None, typer.Option()] = None,
    include_closed: Annotated[bool, typer.Option()] = False,
    limit: Annotated[int, typer.Option()] = 100,
) -> None:
    """List organisations."""
    with transaction() as session:
        rows = [
            org_dict(o)
            for o in orgs.list_organisations(
                session, kind=kind, country=country, include_closed=include_closed, limit=limit
            )
        ]
    emit(
        rows,
        human=table(
            ngettext("%(num)d organisation", "%(num)d organisations", len(rows)),
            [_("id"), _("name"), _("kind"), _("country"), _("reg. no"), _("closed")],
            [
                [r["id"], r["name"], label(r["kind"]), r["country"], r["registration_number"], r["closed_at"]]
                for r in rows
            ],
        ),
    )


@org_app.command("licence-add")
def licence_add(
    org: Annotated[str, typer.Argument(help="Organisation id")],
    number: Annotated[str, typer.Option()],
    kind: Annotated[
        str, typer.Option(help="manufacture, dealer, import, export, transit, brokering, possession")
    ],
    issuing_country: Annotated[str, typer.Option()],
    issued_on: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    expires_on: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
) -> None:
    """Add a licence to an organisation."""
    with transaction(writes=True) as session:
        lic = orgs.add_licence(
            session,
            actor=actor(),
            org_id=parse_uuid(org, "org"),
            number=number,
            kind=kind,
            issuing_country=issuing_country,
            issued_on=_date(issued_on, "issued_on"),
            expires_on=_date(expires_on, "expires_on") if expires_on else None,
        )
        data = {"id": lic.id, "number": lic.number, "kind": lic.kind, "expires_on": lic.expires_on}
    # The kind after the number, not before "licence": "import" as a noun reads in every language.
    emit(
        data, human=_("[green]added[/] licence %(number)s: %(kind)s", number=lic.number, kind=label(lic.kind))
    )


@org_app.command("close")
def org_close(
    org: Annotated[str, typer.Argument(help="Organisation id")],
    custodian: Annotated[str, typer.Option(help="Id of the state body that takes its records (REQ-21)")],
) -> None:
    """Close a company that went out of business; its records pass into state custody first."""
    with transaction(writes=True) as session:
        o = orgs.close_organisation(
            session,
            actor=actor(),
            org_id=parse_uuid(org, "org"),
            records_custodian_id=parse_uuid(custodian, "custodian"),
        )
        data = org_dict(o)
    emit(
        data,
        human=_(
            "closed %(name)s; records in the custody of %(custodian)s. Import its files with %(command)s.",
            name=o.name,
            custodian=o.records_custodian_id,
            command=f"`iti import --custody-of {o.id} FILE`",
        ),
    )


def _date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            _("%(field)s must be YYYY-MM-DD", field=field), param_hint=f"--{field.replace('_', '-')}"
        ) from None


@person_app.command("add")
def person_add(
    name: Annotated[str, typer.Option()],
    identity_number: Annotated[str, typer.Option()],
    identity_country: Annotated[str, typer.Option()],
    birth_date: Annotated[str | None, typer.Option()] = None,
    address: Annotated[str | None, typer.Option()] = None,
    nationality: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Register a holder (personal data is sealed before it reaches the database)."""
    with transaction(writes=True) as session:
        p = persons.register_person(
            session,
            actor=actor(),
            keys=load_or_create_data_keys(settings()),
            name=name,
            identity_number=identity_number,
            identity_country=identity_country,
            birth_date=birth_date,
            address=address,
            nationality=nationality,
        )
        pid = p.id
    emit({"id": pid}, human=_("[green]registered[/] person %(id)s", id=pid))


@person_app.command("find")
def person_find(
    identity_number: Annotated[str, typer.Option()],
    identity_country: Annotated[str, typer.Option()],
    purpose: Annotated[str, typer.Option(help="Why you are looking (recorded in the audit log)")],
) -> None:
    """Find a holder by identity number (the search is audited)."""
    with transaction() as session:
        ids = [
            p.id
            for p in persons.find_by_identity(
                session,
                actor=actor(),
                keys=load_or_create_data_keys(settings()),
                identity_number=identity_number,
                identity_country=identity_country,
                purpose=purpose,
            )
        ]
    emit(
        ids,
        human=table(ngettext("%(num)d person", "%(num)d persons", len(ids)), [_("id")], [[i] for i in ids]),
    )


@person_app.command("show")
def person_show(
    person: Annotated[str, typer.Argument(help="Person id")],
    purpose: Annotated[str, typer.Option(help="Why you are reading (recorded in the audit log)")],
) -> None:
    """Read a holder's personal data (the read is audited with your name and purpose)."""
    with transaction() as session:
        view = persons.read_person(
            session,
            actor=actor(),
            keys=load_or_create_data_keys(settings()),
            person_id=parse_uuid(person, "person"),
            purpose=purpose,
        )
        data = asdict(view)
    rows = [[_("full name") if k == "name" else label(k), v] for k, v in data.items()]  # not an org's "name"
    emit(data, human=table(_("Person"), [_("field"), _("value")], rows))


@person_app.command("rotate-key")
def person_rotate_key(
    reseal: Annotated[
        bool, typer.Option(help="Re-seal the existing rows now (otherwise run `iti person reseal` later)")
    ] = True,
    batch: Annotated[int, typer.Option(help="Rows per transaction while re-sealing")] = 500,
    pause: Annotated[float, typer.Option(help="Seconds between batches, to spare a busy node")] = 0.0,
) -> None:
    """Start sealing personal data with a new key; old keys stay in the key file to open older rows.

    Safe while the server runs: new writes use the new key at once, reads open either key.
    """
    keys = rotate_data_keys(settings())
    emit({"key_id": keys.current.key_id}, human=_("new personal-data key %(key)s", key=keys.current.key_id))
    if reseal:
        person_reseal(batch=batch, pause=pause)


@person_app.command("reseal")
def person_reseal(
    batch: Annotated[int, typer.Option(help="Rows per transaction")] = 500,
    pause: Annotated[float, typer.Option(help="Seconds between batches, to spare a busy node")] = 0.0,
) -> None:
    """Re-seal rows still sealed with an old key, in committed batches; resumes where a run stopped."""
    with transaction():  # refuses an unmigrated database before anything starts
        pass
    keys = load_or_create_data_keys(settings())
    done = rotation.run(
        make_sessionmaker(engine()),
        actor=actor(),
        keys=keys,
        progress_file=rotation.progress_path(settings().data_key_file),
        batch=batch,
        pause=pause,
    )
    emit(
        {**asdict(done)},
        human=_(
            "[green]re-sealed[/] %(persons)s person(s) with key %(key)s in %(batches)s batch(es)",
            persons=done.resealed,
            key=done.key_id,
            batches=done.batches,
        ),
    )


@person_app.command("keys")
def person_keys() -> None:
    """The loaded personal-data keys and how many rows each one seals (an old key may go once at 0)."""
    keys = load_or_create_data_keys(settings())
    with transaction() as session:
        counts = persons_repo.count_by_key(session)
    rows = [
        {
            "key_id": k.key_id,
            "current": k is keys.current,
            "created_at": k.created_at,
            "rows": counts.get(k.key_id, 0),
        }
        for k in keys
    ]
    missing = sorted(set(counts) - {k.key_id for k in keys})
    emit(
        {"keys": rows, "rows_with_missing_key": {k: counts[k] for k in missing}},
        human=table(
            _("Personal-data keys"),
            [_("key id"), _("current"), _("created"), _("rows sealed")],
            [[r["key_id"], _("yes") if r["current"] else "", r["created_at"], r["rows"]] for r in rows]
            + [[k, _("MISSING FROM KEY FILE"), "", counts[k]] for k in missing],
        ),
    )
