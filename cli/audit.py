"""`iti audit …`: verify the tamper-evident log, sign tree heads, print proofs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.common import STATE, Exit, actor, emit, err_console, fail, settings, table, transaction
from cli.i18n import L_, _, ngettext
from registry.audit import checker
from registry.audit import repository as audit_repo
from registry.audit import service as audit
from registry.audit.keys import load_or_create_signing_key, rotate_signing_key
from registry.audit.verify import verify_consistency, verify_inclusion

app = typer.Typer(help="Prove that nothing in the record was altered.", no_args_is_help=True)


@app.command("verify")
def verify(
    records: Annotated[
        bool, typer.Option(help="Also compare every audited row with its logged digest")
    ] = True,
) -> None:
    """Recompute the whole log; exit 1 naming the first entry altered, deleted, inserted or reordered."""
    with transaction() as session:
        report = checker.verify(session, check_records=records)
    data = {
        "ok": report.ok,
        "entries": report.entries,
        "tree_heads": report.tree_heads,
        "records": report.records,
        "problems": [p.__dict__ for p in report.problems],
    }
    if report.ok:
        emit(
            data,
            human=_(
                "[green]audit log verified[/]: %(entries)s entries, %(heads)s signed tree heads, "
                "%(records)s records match",
                entries=report.entries,
                heads=report.tree_heads,
                records=report.records,
            ),
        )
        return
    first = report.first
    assert first is not None
    if STATE.json:
        emit(data)
    else:
        err_console.print(
            _(
                "[bold red]AUDIT VERIFICATION FAILED[/] (%(kind)s): %(message)s",
                kind=first.kind,
                message=first.message,
            )
        )
        if first.seq is not None:
            err_console.print(_("first bad entry: %(seq)s", seq=first.seq))
    raise typer.Exit(Exit.CHECK_FAILED)


@app.command("sign")
def sign() -> None:
    """Sign a tree head over the log as it is now (also done after imports and purges)."""
    with transaction(writes=True) as session:
        head = audit.sign_head(session, load_or_create_signing_key(settings()), actor=actor())
        data = _head_dict(head)
    emit(
        data,
        human=_(
            "signed tree head #%(id)s: size %(size)s, root %(root)s",
            id=head.id,
            size=head.tree_size,
            root=head.root_hash.hex(),
        ),
    )


def _head_dict(h: Any) -> dict[str, Any]:
    return {
        "id": h.id,
        "tree_size": h.tree_size,
        "root": bytes(h.root_hash).hex(),
        "signed_at": h.signed_at,
        "key_id": h.key_id,
        "signature": bytes(h.signature).hex(),
    }


@app.command("heads")
def heads() -> None:
    """List signed tree heads."""
    with transaction() as session:
        rows = [_head_dict(h) for h in audit_repo.tree_heads(session)]
    emit(
        rows,
        human=table(
            _("Signed tree heads"),
            [_("id"), _("size"), _("root"), _("signed at"), _("key")],
            [[r["id"], r["tree_size"], r["root"][:16] + "…", r["signed_at"], r["key_id"]] for r in rows],
        ),
    )


@app.command("prove")
def prove(
    record: Annotated[str, typer.Argument(help="An entry number, or a subject such as weapon:<id>")],
) -> None:
    """Print inclusion proofs that the entries of RECORD are in the latest signed tree head."""
    with transaction() as session:
        seqs = (
            [int(record)]
            if record.isdigit()
            else audit.entries_for(session, record if ":" in record else f"weapon:{record}")
        )
        if not seqs:
            fail(L_("no audit entries for %(record)r", record=record), Exit.NOT_FOUND, {"field": "record"})
        proofs = []
        for seq in seqs:
            p = audit.prove_inclusion(session, seq=seq)
            ok = verify_inclusion(p.leaf_hash, p.seq, p.tree_size, p.path, p.root)
            proofs.append(
                {
                    "seq": p.seq,
                    "leaf_hash": p.leaf_hash.hex(),
                    "tree_size": p.tree_size,
                    "root": p.root.hex(),
                    "tree_head": p.head_id,
                    "path": [h.hex() for h in p.path],
                    "verified": ok,
                }
            )
    emit(
        proofs,
        human=table(
            _("Inclusion proofs for %(record)s", record=record),
            [_("entry"), _("tree size"), _("head"), _("path length"), _("verified")],
            [
                [
                    p["seq"],
                    p["tree_size"],
                    p["tree_head"],
                    len(p["path"]),
                    _("yes") if p["verified"] else _("no"),
                ]
                for p in proofs
            ],
        ),
    )
    if not all(p["verified"] for p in proofs):
        raise typer.Exit(Exit.CHECK_FAILED)


@app.command("consistency")
def consistency(
    old: Annotated[int, typer.Argument(help="Id of the older signed tree head")],
    new: Annotated[int, typer.Argument(help="Id of the newer signed tree head")],
) -> None:
    """Print a proof that tree head NEW extends OLD (nothing before OLD was changed)."""
    with transaction() as session:
        p = audit.prove_consistency(
            session, old=audit.get_head(session, old), new=audit.get_head(session, new)
        )
    ok = verify_consistency(p.old_size, p.new_size, p.old_root, p.new_root, p.path)
    data = {
        "old_size": p.old_size,
        "new_size": p.new_size,
        "old_root": p.old_root.hex(),
        "new_root": p.new_root.hex(),
        "path": [h.hex() for h in p.path],
        "verified": ok,
    }
    emit(
        data,
        human=ngettext(
            "consistency %(old)s → %(new)s: %(num)d hash, verified: %(ok)s",
            "consistency %(old)s → %(new)s: %(num)d hashes, verified: %(ok)s",
            len(p.path),
            old=p.old_size,
            new=p.new_size,
            ok=_("yes") if ok else _("no"),
        ),
    )
    if not ok:
        raise typer.Exit(Exit.CHECK_FAILED)


@app.command("rotate-key")
def rotate_key() -> None:
    """Start signing with a new key; the old public key stays registered so old heads still verify."""
    with transaction(writes=True) as session:
        audit.sign_head(session, load_or_create_signing_key(settings()), actor=actor())
        key = rotate_signing_key(settings())
        head = audit.sign_head(session, key, actor=actor())
    emit(
        _head_dict(head),
        human=_("new signing key %(key)s; signed tree head #%(id)s", key=head.key_id, id=head.id),
    )
