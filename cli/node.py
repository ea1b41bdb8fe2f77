"""`iti node …`, `iti peer …`, `iti outbox …`, `iti inbox …`: this node's identity, the directory of other
states' points of contact, and the messages between nodes (docs/federation.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

import tracing.requests.handlers  # noqa: F401 - trace messages and deliveries, handled as by the server
from cli.common import Exit, actor, emit, engine, fail, parse_uuid, settings, table, transaction
from cli.i18n import L_, _, label, ngettext
from registry.db import make_sessionmaker
from tracing.federation import envelope, inbox, outbox, service
from tracing.federation.transport import deliver_now

node_app = typer.Typer(
    help="This node's federation identity: country, PoC, URL, signing key.", no_args_is_help=True
)
peer_app = typer.Typer(help="The directory of other states' points of contact.", no_args_is_help=True)
outbox_app = typer.Typer(help="Messages to other states and their delivery.", no_args_is_help=True)
inbox_app = typer.Typer(help="Messages received from other states.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(node_app, name="node")
    app.add_typer(peer_app, name="peer")
    app.add_typer(outbox_app, name="outbox")
    app.add_typer(inbox_app, name="inbox")


def node_dict(node: Any) -> dict[str, Any]:
    return {
        "country": node.country,
        "poc_name": node.poc_name,
        "contact": node.contact,
        "url": node.url,
        "key_id": node.key_id,
        "public_key": envelope.b64url(bytes(node.public_key)),
        "created_at": node.created_at,
        "updated_at": node.updated_at,
    }


@node_app.command("init")
def node_init(
    country: Annotated[str, typer.Option(help="This state: ISO 3166-1 alpha-2 or alpha-3 (e.g. KE or KEN)")],
    url: Annotated[str, typer.Option(help="The public base URL other nodes reach, e.g. https://iti.gov.ke")],
    poc_name: Annotated[str, typer.Option("--poc-name", help="The national point of contact (office)")] = (
        "National point of contact"
    ),
    contact: Annotated[str, typer.Option(help="How other PoCs reach it: e-mail, phone")] = "",
) -> None:
    """Create this node's identity and its Ed25519 signing key (stored encrypted, see docs/federation.md)."""
    if not contact.strip():
        fail(
            L_("--contact is required: other states' points of contact must be able to reach yours"),
            Exit.INVALID,
            {"field": "contact"},
        )
    with transaction(writes=True) as session:
        node = service.init_node(
            session, settings(), actor=actor(), country=country, poc_name=poc_name, contact=contact, url=url
        )
        data = node_dict(node)
    emit(
        data,
        human=_(
            "[green]node initialised[/] %(country)s at %(url)s, key id %(key)s",
            country=data["country"],
            url=data["url"],
            key=data["key_id"],
        ),
    )


@node_app.command("show")
def node_show() -> None:
    """Show this node's identity and key fingerprint (the key id to read out to other PoCs)."""
    with transaction() as session:
        data = node_dict(service.get_node(session))
    emit(data, human=table(_("node"), [_("field"), _("value")], [[k, v] for k, v in data.items()]))


@node_app.command("set")
def node_set(
    url: Annotated[str | None, typer.Option(help="New public base URL")] = None,
    poc_name: Annotated[str | None, typer.Option("--poc-name")] = None,
    contact: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Change the PoC name, contact or URL (publish the new entry to your peers afterwards)."""
    with transaction(writes=True) as session:
        data = node_dict(
            service.update_node(session, actor=actor(), poc_name=poc_name, contact=contact, url=url)
        )
    emit(data, human=_("[green]node updated[/]: export the entry again and send it to your peers"))


@node_app.command("export-entry")
def node_export_entry(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write (default: stdout)")
    ] = None,
) -> None:
    """Write this node's signed directory entry (a directory document for `iti peer import`)."""
    with transaction() as session:
        doc = service.export_directory(session, settings())
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
    if output is None:
        sys.stdout.buffer.write(data)
        return
    output.write_bytes(data)
    emit(
        {"path": str(output), "key_id": doc["key_id"]},
        human=_(
            "wrote %(path)s; tell the receiving point of contact the fingerprint [bold]%(key)s[/] by phone or letter",
            path=output,
            key=doc["key_id"],
        ),
    )


@node_app.command("rotate-key")
def node_rotate_key(
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the hand-over document")],
    announce: Annotated[
        bool,
        typer.Option(
            "--announce/--no-announce",
            help="Send every peer state a message signed by the old key that carries the new one (default). "
            "Use --no-announce if the old key may be compromised",
        ),
    ] = True,
) -> None:
    """Replace the signing key; announce it to the peers in a message signed by the old key, and write a
    hand-over document, also signed by the old key, for peers that take it by hand."""
    with transaction(writes=True) as session:
        rotation = service.rotate_key(session, settings(), actor=actor(), announce=announce)
    output.write_bytes(orjson.dumps(rotation.handover, option=orjson.OPT_INDENT_2) + b"\n")
    data = {
        "path": str(output),
        "old_key_id": rotation.old_key_id,
        "key_id": rotation.key_id,
        "announced": rotation.announced,
    }
    if rotation.announced:
        human = ngettext(
            "new key %(key)s, announced to %(num)d peer state in a message signed by the old key %(old)s "
            "(`iti outbox list`); %(path)s is the hand-over for a peer that does not receive it",
            "new key %(key)s, announced to %(num)d peer states in a message signed by the old key %(old)s "
            "(`iti outbox list`); %(path)s is the hand-over for a peer that does not receive it",
            len(rotation.announced),
            key=rotation.key_id,
            old=rotation.old_key_id,
            path=output,
        )
    else:
        human = _(
            "new key %(key)s; send %(path)s to every peer (`iti peer import`), then ask them to remove "
            "the old key %(old)s",
            key=rotation.key_id,
            path=output,
            old=rotation.old_key_id,
        )
    emit(data, human=human)


def peer_dict(peer: Any) -> dict[str, Any]:
    return {
        "id": peer.id,
        "country": peer.country,
        "poc_name": peer.poc_name,
        "contact": peer.contact,
        "url": peer.url,
        "key_id": peer.key_id,
        "public_key": envelope.b64url(bytes(peer.public_key)),
        "priority": peer.priority,
        "source": peer.source,
        "added_at": peer.added_at,
        "removed_at": peer.removed_at,
    }


@peer_app.command("add")
def peer_add(
    country: Annotated[str, typer.Option(help="The peer's state, alpha-2 or alpha-3")],
    url: Annotated[str, typer.Option(help="The peer node's base URL")],
    public_key: Annotated[str, typer.Option("--public-key", help="Ed25519 public key, base64url or hex")],
    contact: Annotated[str, typer.Option(help="How to reach that PoC")],
    poc_name: Annotated[str, typer.Option("--poc-name")] = "National point of contact",
    priority: Annotated[int, typer.Option(help="Lowest first: where messages to the state go")] = 0,
) -> None:
    """Add a PoC of another state (a state may have several)."""
    data_in = service.PeerInput(
        country=country, url=url, public_key=public_key, poc_name=poc_name, contact=contact, priority=priority
    )
    with transaction(writes=True) as session:
        data = peer_dict(service.add_peer(session, actor=actor(), data=data_in))
    emit(
        data,
        human=_(
            "[green]added[/] point of contact of %(country)s at %(url)s (key %(key)s)",
            country=data["country"],
            url=data["url"],
            key=data["key_id"],
        ),
    )


@peer_app.command("list")
def peer_list(all_: Annotated[bool, typer.Option("--all", help="Include removed PoCs")] = False) -> None:
    """List the directory."""
    with transaction() as session:
        rows = [peer_dict(p) for p in service.list_peers(session, include_removed=all_)]
    emit(
        rows,
        human=table(
            _("peers"),
            [
                _("country"),
                _("point of contact"),
                _("url"),
                _("key id"),
                _("priority"),
                _("removed"),
                _("id"),
            ],
            [
                [r["country"], r["poc_name"], r["url"], r["key_id"], r["priority"], r["removed_at"], r["id"]]
                for r in rows
            ],
        ),
    )


@peer_app.command("remove")
def peer_remove(ref: Annotated[str, typer.Argument(help="Peer id or key id")]) -> None:
    """Remove a PoC: messages from its key are refused from now on (the key stays on record)."""
    with transaction(writes=True) as session:
        data = peer_dict(service.remove_peer(session, actor=actor(), ref=ref))
    emit(
        data,
        human=_(
            "[yellow]removed[/] point of contact of %(country)s, key %(key)s",
            country=data["country"],
            key=data["key_id"],
        ),
    )


@peer_app.command("import")
def peer_import(
    file: Annotated[
        Path, typer.Argument(help="A signed directory document (JSON)", exists=True, dir_okay=False)
    ],
    fingerprint: Annotated[
        str | None,
        typer.Option(
            help="The issuer's key id, checked with its PoC by phone or letter (not needed for known peers)"
        ),
    ] = None,
) -> None:
    """Import PoCs from a signed directory document (from `iti node export-entry` or a regional directory)."""
    try:
        document = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        fail(L_("%(file)s is not JSON: %(error)s", file=file, error=exc), Exit.INVALID, {"field": "file"})
    with transaction(writes=True) as session:
        result = service.import_directory(
            session, actor=actor(), document=document, fingerprint=fingerprint, source=f"import {file.name}"
        )
        data = {
            "issuer": result.issuer,
            "issuer_key_id": result.issuer_key_id,
            "added": [peer_dict(p) for p in result.added],
            "unchanged": result.unchanged,
            "skipped_own_entry": result.skipped_own,
        }
    emit(
        data,
        human=ngettext(
            "[green]imported[/] %(num)d point of contact from %(issuer)s (%(key)s); %(known)s already known",
            "[green]imported[/] %(num)d points of contact from %(issuer)s (%(key)s); %(known)s already known",
            len(data["added"]),
            issuer=result.issuer,
            key=result.issuer_key_id,
            known=len(result.unchanged),
        ),
    )


@peer_app.command("ping")
def peer_ping(
    country: Annotated[str, typer.Argument(help="The peer state, alpha-2 or alpha-3")],
    note: Annotated[str, typer.Option(help="Free text the receiving PoC sees")] = "connectivity check",
) -> None:
    """Send a signed ping and deliver it now: exit 0 when the peer returned a verified receipt, else 1."""
    with transaction() as session:
        message_id = outbox.enqueue(
            session, to_country=country, kind="federation.ping", body={"note": note}, actor=actor()
        )
    deliver_now(make_sessionmaker(engine()), settings(), message_ids=[message_id])
    with transaction() as session:
        data = outbox_dict(outbox.get_outbox(session, message_id))
    if data["status"] != "delivered":
        emit(
            data,
            human=_(
                "[red]not delivered[/] (%(status)s): %(error)s",
                status=data["status"],
                error=data["last_error"],
            ),
        )
        raise typer.Exit(Exit.CHECK_FAILED)
    emit(data, human=_("[green]delivered[/] to %(country)s: receipt verified", country=data["to_country"]))


def outbox_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "to_country": row.to_country,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "last_error": row.last_error,
        "delivered_at": row.delivered_at,
        "created_at": row.created_at,
    }


@outbox_app.command("list")
def outbox_list(
    status: Annotated[str | None, typer.Option(help="pending, delivered or failed")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Recipient state")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
) -> None:
    """List outbound messages, newest first."""
    with transaction() as session:
        rows = [
            outbox_dict(r) for r in outbox.list_outbox(session, status=status, to_country=to, limit=limit)
        ]
    emit(
        rows,
        human=table(
            _("outbox"),
            [
                _("id"),
                _("kind"),
                _("to"),
                _("status"),
                _("attempts"),
                _("next attempt"),
                _("delivered"),
                _("last error"),
            ],
            [
                [
                    r["id"],
                    r["kind"],  # a message kind of the published schema (trace.request), not a word
                    r["to_country"],
                    label(r["status"]),
                    r["attempts"],
                    r["next_attempt_at"],
                    r["delivered_at"],
                    r["last_error"],
                ]
                for r in rows
            ],
        ),
    )


@outbox_app.command("deliver")
def outbox_deliver(
    ids: Annotated[
        list[str] | None, typer.Argument(help="Message ids (default: every message that is due)")
    ] = None,
) -> None:
    """Send due messages now (the server does this every ITI_FEDERATION_DELIVERY_INTERVAL seconds)."""
    with transaction():
        pass  # refuses an unmigrated database with the usual message and exit code
    message_ids = [parse_uuid(i, "id") for i in ids] if ids else None
    report = deliver_now(make_sessionmaker(engine()), settings(), message_ids=message_ids)
    data = report.as_dict()
    emit(data, human=", ".join(f"{label(k)}: {len(v)}" for k, v in data.items()))
    if report.failed:
        raise typer.Exit(Exit.CHECK_FAILED)


@outbox_app.command("retry")
def outbox_retry(message_id: Annotated[str, typer.Argument()]) -> None:
    """Queue a failed message again."""
    with transaction(writes=True) as session:
        data = outbox_dict(outbox.retry(session, actor=actor(), message_id=parse_uuid(message_id, "id")))
    emit(data, human=_("[green]queued again[/] %(id)s", id=data["id"]))


@inbox_app.command("list")
def inbox_list(
    kind: Annotated[str | None, typer.Option()] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Sender state (alpha-2)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
) -> None:
    """List received messages, newest first."""
    with transaction() as session:
        rows = [
            {
                "id": r.id,
                "kind": r.kind,
                "from_country": r.from_country,
                "sent_at": r.sent_at,
                "received_at": r.received_at,
            }
            for r in inbox.list_inbox(session, kind=kind, from_country=from_, limit=limit)
        ]
    emit(
        rows,
        human=table(
            _("inbox"),
            [_("id"), _("kind"), _("from"), _("sent"), _("received")],
            [[r["id"], r["kind"], r["from_country"], r["sent_at"], r["received_at"]] for r in rows],
        ),
    )
