"""The domain core: pure rules, standard library only. Takes `now` as an argument; no I/O."""

from . import commands
from .checklist import earliest_discharge, evaluate_checklist
from .decide import Context, consent_missing, decide, next_deadline, refusal
from .errors import InvalidInput, PolicyError, RuleViolation
from .events import Payload, SupportRef, upcast
from .evolve import evolve, fold
from .model import ALTERED_PHASES, Actor, Event, ParticipantState, Phase, SessionState
from .policy import DEFAULT_POLICY, Policy, policy_from_mapping

__all__ = [
    "ALTERED_PHASES",
    "Actor",
    "Context",
    "DEFAULT_POLICY",
    "Event",
    "InvalidInput",
    "ParticipantState",
    "Payload",
    "Phase",
    "Policy",
    "PolicyError",
    "RuleViolation",
    "SessionState",
    "SupportRef",
    "commands",
    "consent_missing",
    "decide",
    "earliest_discharge",
    "evaluate_checklist",
    "evolve",
    "fold",
    "next_deadline",
    "policy_from_mapping",
    "refusal",
    "upcast",
]
