"""The station's one query of its own: the weapons the registry places at a storage site."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.codes import Status
from registry.weapons.models import Weapon, WeaponState

# Statuses of a weapon that is physically in a store (a pending transfer has not left until accepted).
IN_STORE = (Status.ACTIVE, Status.RECOVERED, Status.DEACTIVATED, Status.TRANSFER_PENDING)


def held_at(session: Session, location: str) -> list[tuple[Weapon, WeaponState]]:
    stmt = (
        select(Weapon, WeaponState)
        .join(WeaponState, WeaponState.weapon_id == Weapon.id)
        .where(func.lower(WeaponState.location) == location.strip().lower())
        .where(WeaponState.status.in_([s.value for s in IN_STORE]))
        .order_by(Weapon.serial, Weapon.id)
    )
    return [(w, s) for w, s in session.execute(stmt)]
