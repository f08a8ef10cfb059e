"""Keeping the catalogue, and what an incident's services touch."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlparse

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.orm import Session

from app.catalogue.models import (
    EscalationStep,
    Supplier,
    downstream_of,
    service_dependencies,
    service_suppliers,
    upstream_of,
)
from app.contacts.models import Contact
from app.db import transaction
from app.incidents.models import Incident, Service
from app.incidents.rules import RuleError, normalise_service_name


def link(value: str | None, field: str) -> str | None:
    """An http(s) address or nothing: anything else (javascript:, data:) could run in the
    page when someone follows it."""
    value = (value or "").strip()
    if not value:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or len(value) > 1000:
        raise RuleError("Enter a full web address starting with https://", field)
    return value


# ---- services ---------------------------------------------------------------------------

# One request (the web's declare and edit forms, the API) names at most this many impacted
# services, of which at most NEW_SERVICES_PER_REQUEST new to the catalogue: each new one is
# a row written while the request holds the write lock.
SERVICES_PER_INCIDENT = 30
NEW_SERVICES_PER_REQUEST = 10


@dataclass(frozen=True)
class ServiceFields:
    name: str
    description: str = ""
    owner: str = ""
    runbook_url: str | None = None
    dr_url: str | None = None
    upstream_ids: tuple[int, ...] = ()
    supplier_ids: tuple[int, ...] = ()
    public: bool = False


def save_service(session: Session, service: Service | None, fields: ServiceFields) -> Service:
    name = normalise_service_name(fields.name)
    if not name:
        raise RuleError("Enter the service's name.", "name")
    if len(name) > 120:
        raise RuleError("Service names must be 120 characters or fewer.", "name")
    clash = session.scalar(select(Service).where(func.lower(Service.name) == name.lower()))
    if clash is not None and clash is not service:
        raise RuleError("There is already a service with that name.", "name")
    runbook, dr = link(fields.runbook_url, "runbook_url"), link(fields.dr_url, "dr_url")
    with transaction(session):
        if service is None:
            service = Service(name=name)
            session.add(service)
        service.name, service.description = name, fields.description.strip()
        service.owner, service.runbook_url, service.dr_url = fields.owner.strip(), runbook, dr
        service.public = fields.public
        session.flush()
        upstream = {i for i in fields.upstream_ids if i != service.id}
        _check_ids(session, Service, upstream, "upstream")
        session.execute(delete(service_dependencies).where(
            service_dependencies.c.downstream_id == service.id))
        if upstream:
            session.execute(insert(service_dependencies), [
                {"downstream_id": service.id, "upstream_id": i} for i in sorted(upstream)])
        suppliers = _check_ids(session, Supplier, set(fields.supplier_ids), "suppliers")
        for supplier in session.scalars(select(Supplier)):
            has = service in supplier.services
            if supplier.id in suppliers and not has:
                supplier.services.append(service)
            elif supplier.id not in suppliers and has:
                supplier.services.remove(service)
    return service


def _check_ids(session, model, ids: set[int], field: str) -> set[int]:
    if ids and session.scalar(select(func.count()).select_from(model)
                              .where(model.id.in_(ids))) != len(ids):
        raise RuleError("One of the choices no longer exists. Choose again.", field)
    return ids


def split_by_catalogue(session: Session, names: Iterable[str]
                       ) -> tuple[list[Service], list[str]]:
    """Named services: those in the catalogue (matched by name, ignoring case and spacing)
    and the new names, each once, in the order given. One query for all of them: a request
    naming many services must not read the catalogue once per name."""
    wanted: dict[str, str] = {}
    for raw in names:
        name = normalise_service_name(raw)
        if name and name.lower() not in wanted:
            wanted[name.lower()] = name
    # SQLite's lower() folds ASCII only: the names as typed match a stored "Ökonomie" too.
    found = {s.name.lower(): s for s in session.scalars(select(Service).where(or_(
        func.lower(Service.name).in_(list(wanted)), Service.name.in_(list(wanted.values())))))
    } if wanted else {}
    known = [found[key] for key in wanted if key in found]
    return known, [name for key, name in wanted.items() if key not in found]


def services(session: Session) -> list[Service]:
    return list(session.scalars(select(Service).order_by(func.lower(Service.name))))


# ---- suppliers and the escalation chain -------------------------------------------------


def save_supplier(session: Session, supplier: Supplier | None, *, name: str, support_route: str,
                  hours: str, escalation: str, url: str | None) -> Supplier:
    name = " ".join((name or "").split())
    if not name:
        raise RuleError("Enter the supplier's name.", "name")
    clash = session.scalar(select(Supplier).where(func.lower(Supplier.name) == name.lower()))
    if clash is not None and clash is not supplier:
        raise RuleError("There is already a supplier with that name.", "name")
    checked = link(url, "url")
    if supplier is None:
        supplier = Supplier(name=name)
        session.add(supplier)
    supplier.name, supplier.support_route = name[:120], support_route.strip()
    supplier.hours, supplier.escalation, supplier.url = hours.strip()[:200], escalation.strip(), \
        checked
    session.commit()
    return supplier


def suppliers(session: Session) -> list[Supplier]:
    return list(session.scalars(select(Supplier).order_by(func.lower(Supplier.name))))


def chain(session: Session) -> list[EscalationStep]:
    return list(session.scalars(select(EscalationStep).order_by(EscalationStep.position,
                                                                EscalationStep.id)))


def save_step(session: Session, step: EscalationStep | None, *, name: str, role: str,
              phone: str, email: str, when: str) -> EscalationStep:
    name = " ".join((name or "").split())
    if not name:
        raise RuleError("Enter who to call.", "name")
    email = (email or "").strip()
    if email and ("@" not in email or " " in email):
        raise RuleError("Enter an email address like name@example.org", "email")
    if step is None:
        last = session.scalar(select(func.max(EscalationStep.position))) or 0
        step = EscalationStep(position=last + 1)
        session.add(step)
    step.name, step.role, step.phone = name[:200], role.strip()[:200], phone.strip()[:60]
    step.email, step.when = email[:320], when.strip()
    session.commit()
    return step


def move_step(session: Session, step: EscalationStep, direction: str) -> None:
    steps = chain(session)
    index = steps.index(step)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(steps):
        steps[index], steps[other] = steps[other], steps[index]
    for position, item in enumerate(steps, start=1):
        item.position = position
    session.commit()


def remove_step(session: Session, step: EscalationStep) -> None:
    session.delete(step)
    session.commit()
    for position, item in enumerate(chain(session), start=1):
        item.position = position
    session.commit()


# ---- an incident's neighbourhood --------------------------------------------------------


@dataclass(frozen=True)
class Neighbour:
    service: Service
    relation: str  # "upstream" (it depends on) or "downstream" (depends on it)
    via: str  # the affected service it is next to
    contacts: list[Contact]


@dataclass(frozen=True)
class Neighbourhood:
    affected: list[Service]
    neighbours: list[Neighbour]
    suppliers: list[Supplier]

    @property
    def empty(self) -> bool:
        return not (self.neighbours or self.suppliers or any(
            s.runbook_url or s.dr_url or s.owner for s in self.affected))


def neighbourhood(session: Session, incident: Incident) -> Neighbourhood:
    """The services next to the affected ones (either direction), with the people to
    tell, and the suppliers the affected services rely on."""
    affected = list(incident.services)
    affected_ids = {s.id for s in affected}
    seen: set[tuple[int, str]] = set()
    neighbours: list[Neighbour] = []
    for service in affected:
        for relation, others in (("upstream", upstream_of(service)),
                                 ("downstream", downstream_of(service))):
            for other in others:
                if other.id in affected_ids or (other.id, relation) in seen:
                    continue
                seen.add((other.id, relation))
                neighbours.append(Neighbour(other, relation, service.name,
                                            contacts_for(session, other.name)))
    found = {s.id: s for service in affected for s in suppliers_of(session, service)}
    return Neighbourhood(affected, neighbours, sorted(found.values(), key=lambda s: s.name))


def contacts_for(session: Session, name: str) -> list[Contact]:
    return list(session.scalars(select(Contact).where(func.lower(Contact.service)
                                                      == name.lower())
                                .order_by(Contact.name).limit(20)))


def suppliers_of(session: Session, service: Service) -> Iterable[Supplier]:
    return session.scalars(select(Supplier).join(
        service_suppliers, service_suppliers.c.supplier_id == Supplier.id)
        .where(service_suppliers.c.service_id == service.id))
