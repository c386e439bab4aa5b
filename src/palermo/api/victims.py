"""The victims' part of the API: the indicator catalogue, screening an interview record (the web
form of issue 8), possible victims found in the data, and cases along the National Referral
Mechanism. Names or pseudonyms, and the audit of every showing, are decided in the store
(``store/victims.py``), as for the CLI."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from palermo.api.auth import AuditedRoute, caller
from palermo.errors import AccessDenied
from palermo.store import audit, lens
from palermo.store import findings as findings_store
from palermo.store.workspace import Store

ScopedStore = Annotated[Store, Depends(caller)]


class Interview(BaseModel):
    form: str = Field(max_length=32, description="labour | child-labour (sexual: not shipped)")
    indicators: list[str] = Field(default_factory=list, max_length=200)
    person: str | None = Field(default=None, max_length=200, description="the entity interviewed")


def router() -> APIRouter:
    api = APIRouter(route_class=AuditedRoute, prefix="/victims", tags=["victims"])

    @api.get("/indicators")
    def indicators(store: ScopedStore, form: str | None = None) -> dict[str, Any]:
        """The ILO/EC operational indicators: code, form, dimension, strength, label, source."""
        from palermo.victims.screen import RULE, indicators

        return {"indicators": indicators(form), "rule": RULE}

    @api.post("/screen")
    def screen(body: Interview, store: ScopedStore) -> dict[str, Any]:
        """An interview record -> the decision per dimension and overall, with the indicators
        and the clause of the rule behind each (``palermo victims screen``). Audited; with a
        ``person``, as a screening of that person. Not for partners."""
        from palermo.victims.screen import screen

        if store.scope.role == "partner":
            raise AccessDenied(f"{store.scope.actor}: partners do not screen victims")
        if body.person is not None:
            lens.require_entity(store, body.person)  # 404 outside the caller's compartments
        result = screen(body.form, body.indicators)
        with store.engine.transaction():
            audit.append(store.engine, store.scope.actor, "victims.screen", body.person,
                         {"form": body.form, "indicators": body.indicators,
                          "decision": result["decision"]})  # fmt: skip
        return result

    @api.get("/leads")
    def leads(store: ScopedStore) -> dict[str, Any]:
        """The possible victims found in the data (findings ``victims.lead``), each with its
        signals and evidence rows; pseudonyms for who may not see names."""
        found = findings_store.read(store, prefix="victims.lead")
        labels = lens.captions(store, sorted({f["subject_ids"][0] for f in found}))
        for f in found:
            f["caption"] = labels.get(f["subject_ids"][0], f["subject_ids"][0])
        return {"leads": lens.redact_json(store, found)}

    @api.get("/cases")
    def cases(store: ScopedStore) -> dict[str, Any]:
        """Victims' cases within your compartments: stage, consent, deadlines, next step."""
        from palermo.victims.referral import list_cases

        return {"cases": list_cases(store)}

    return api
