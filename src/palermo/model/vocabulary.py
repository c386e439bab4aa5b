"""Roles in a trafficking operation and forms of exploitation (see shared DOMAIN.md, HTCDS 2.0)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Roles of persons and organisations. HTCDS RoleInProcess plus the specialist roles the field
    describes in organised trafficking networks."""

    RECRUITER = "recruiter"
    DOCUMENT_FORGER = "document_forger"
    TRANSPORTER = "transporter"
    ENFORCER = "enforcer"
    EXPLOITER = "exploiter"
    MONEY_HANDLER = "money_handler"
    CORRUPT_OFFICIAL = "corrupt_official"
    FACILITATOR = "facilitator"
    BROKER_TRAVEL_AGENT = "broker_travel_agent"
    SMUGGLER = "smuggler"
    ABUSER = "abuser"
    KIDNAPPER = "kidnapper"
    TRAVELLING_PARTNER = "travelling_partner"
    FRONT_COMPANY = "front_company"
    VICTIM = "victim"
    CLIENT = "client"
    OTHER = "other"


class ExploitationForm(StrEnum):
    """HTCDS TypeOfExploitation, with the labour sectors kept separately in analyses."""

    FORCED_LABOUR = "forced_labour"
    SEXUAL_EXPLOITATION = "sexual_exploitation"
    CHILD_LABOUR = "child_labour"
    DOMESTIC_SERVITUDE = "domestic_servitude"
    FORCED_BEGGING = "forced_begging"
    FORCED_CRIMINALITY = "forced_criminality"
    FORCED_MARRIAGE = "forced_marriage"
    ORGAN_REMOVAL = "organ_removal"
    FORCED_ADOPTION = "forced_adoption"
    SURROGACY = "surrogacy"
    FORCED_MILITARY = "forced_military"
    OTHER = "other"
