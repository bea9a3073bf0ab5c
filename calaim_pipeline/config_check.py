"""The production check of the plans registry: no trading-partner identifier may still be a sample
placeholder when files are meant for DHCS.

The bundled ``config/plans.yaml`` holds SAMPLE identifiers (submitter ETINs, ISA/GS ids, the
receiver's and payers' ids) so the demo builds valid 837 files. A production deployment replaces
them (CALAIM_CONFIG_DIR); this check refuses any identifier that is still equal to one of the
bundled registry's, naming each key (``receiver.isa_receiver_id``, ``plans[CHG].submitter_id``),
so nothing built from a forgotten placeholder can be sent. Identifiers are not member data: the
values may be printed.
"""

from __future__ import annotations

from calaim_pipeline.settings import BUNDLED_CONFIG_DIR, PlansRegistry, plans_at

RECEIVER_KEYS = ("isa_receiver_id", "gs_receiver_code", "submitter_receiver_id", "payer_id")
PLAN_KEYS = ("submitter_id", "isa_sender_id", "gs_sender_code", "payer_id")


def identifiers(registry: PlansRegistry) -> dict[str, str]:
    """Every trading-partner identifier of the registry by its key."""
    found = {f"receiver.{key}": getattr(registry.receiver, key) for key in RECEIVER_KEYS}
    for plan in registry.plans:
        found |= {f"plans[{plan.code}].{key}": getattr(plan, key) for key in PLAN_KEYS}
    return found


def sample_placeholders() -> frozenset[str]:
    """The identifier values of the bundled sample registry (upper case, as the 837 sends them)."""
    bundled = plans_at(BUNDLED_CONFIG_DIR / "plans.yaml")
    return frozenset(value.upper() for value in identifiers(bundled).values())


def production_problems(registry: PlansRegistry) -> list[str]:
    """One message per identifier key whose value is a sample placeholder; empty when none is."""
    placeholders = sample_placeholders()
    return [
        f"{key}: {value!r} is a sample placeholder from the bundled plans.yaml; set the "
        "identifier DHCS assigned"
        for key, value in identifiers(registry).items()
        if value.upper() in placeholders
    ]
