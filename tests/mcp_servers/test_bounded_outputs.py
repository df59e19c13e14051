"""No tool answers with a list that grows without bound (issue 14, item 6: nothing on a request path
grows with the book). Every list in every tool's output model, at any depth, is either a page (its
model has ``next_cursor``, so the caller's ``limit`` bounds it) or named here with what bounds it.

A commission statement used to answer with up to 1,000 lines in every call, the platform's revenue with
every provider of the period, and list_documents with every document of an application: all three are
pages now. A new list field fails here until it is a page or its bound is written down below.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator

from pydantic import BaseModel

from mcp_servers.composition import SERVICES

# (model, field) -> what bounds it.
BOUNDED = {
    ("AcceptedOffer", "other_bids"): "the application's other bids: one live bid per invited provider",
    ("AdverseActionNoticeView", "reasons"): "the scorecard's principal reasons, at most four (MAX_REASONS)",
    ("AgingReport", "late_fees"): "one run's batch of loans (tools/loans/aging.py _BATCH)",
    ("AgingReport", "loans"): "one run's batch of loans",
    ("AgingReport", "moves"): "one run's batch of loans, a move each at most",
    ("ApplicationTimeline", "entries"): "one application's status changes, each a person's decision or step",
    ("ApprovalResult", "reasons"): "the policy's rules",
    ("BatchReport", "items"): "the batch asked for: at most 100 applications",
    ("BidPreview", "problems"): "the bid rules",
    ("CommissionPlanView", "caps"): "the plan's caps: at most 20 (its input schema)",
    ("CommissionPlanView", "tiers"): "the plan's tiers: at most MAX_TIERS (its input schema)",
    ("CommissionPreviewView", "lines"): "the plan's bands and its interest share",
    ("Dependency", "pending"): "the queues of one dependency",
    ("EnabledToolset", "enabled"): "the server's toolsets",
    ("EnabledToolset", "tools"): "the tools of one toolset",
    ("ExpiryReport", "expired"): "one run's limit (expire_stale_applications, 500)",
    ("JournalView", "lines"): "one journal's postings: a movement's few accounts",
    ("LoanView", "timeline"): "one loan's status changes over its term",
    ("MakerChecker", "makers"): "the application's decision steps",
    ("MatchReport", "explanations"): "the ranking's limit",
    ("MatchReport", "ranking"): "the match's limit (more_eligible says when there are more)",
    ("NotificationPreferences", "overrides"): "one per notice kind and channel",
    ("OfferComparison", "excluded"): "the application's bids: one live bid per invited provider",
    ("OfferComparison", "offers"): "the application's bids: one live bid per invited provider",
    ("OfferView", "schedule"): "the offer's installments: its term",
    ("PendingActionList", "items"): "the call's limit",
    ("PipelineHealth", "states"): "the application states times the currencies lent in",
    ("PipelineHealth", "stuck"): "the call's stuck_limit",
    ("PlatformHealth", "attention"): "the platform's dependencies and queues",
    ("PlatformHealth", "open_breakers"): "the platform's circuit breakers",
    ("PrepaymentQuoteView", "allocation"): "the loan's installments: its term",
    ("PrepaymentQuoteView", "remaining"): "the loan's installments: its term",
    ("PrepaymentQuoteView", "summary"): "a few sentences",
    ("ProviderExplanation", "unmet"): "the matching criteria",
    ("ProviderView", "accepted_grades"): "the risk grades, at most five",
    ("ProviderView", "countries"): "the provider's countries: at most 60 (its input schema)",
    ("ReconciliationReport", "differences"): "the first 500 (differences_total counts them all)",
    ("ReconciliationReport", "unbalanced_journals"): "the run's limit; the database refuses them",
    ("RepaymentView", "allocation"): "the loan's installments: its term",
    ("RepaymentView", "summary"): "a few sentences",
    ("RevenueByMonth", "months"): "the months asked for: at most 24",
    ("ReviewQueueItem", "reasons"): "the scorecard's reasons",
    ("RiskAssessmentView", "breakdown"): "the scorecard's characteristics",
    ("RiskAssessmentView", "reasons"): "the scorecard's principal reasons, at most four",
    ("ScheduleView", "lines"): "the loan's installments: its term",
    ("SettlementQuoteView", "lines"): "a few sentences explaining the quote",
    ("SyncStatus", "attention"): "the sync queues",
    ("SystemPerformance", "sources"): "the metric sources",
    ("SystemPerformance", "tools"): "the server's tools",
    ("ToolsetList", "toolsets"): "the server's toolsets",
}


def _models(annotation: object) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def _is_list(annotation: object) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    return False


def _lists(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[tuple[type[BaseModel], str]]:
    if model in seen:
        return
    seen.add(model)
    for name, field in model.model_fields.items():
        if _is_list(field.annotation):
            yield model, name
        for inner in _models(field.annotation):
            yield from _lists(inner, seen)


def _outputs() -> dict[tuple[type[BaseModel], str], set[str]]:
    found: dict[tuple[type[BaseModel], str], set[str]] = {}
    for service, toolsets in SERVICES.items():
        for toolset in toolsets:
            for spec in toolset.specs:
                returned = typing.get_type_hints(spec.fn, include_extras=True).get("return")
                for model in _models(returned):
                    for key in _lists(model, set()):
                        found.setdefault(key, set()).add(f"{service}_{spec.fn.__name__}")
    return found


def test_every_list_a_tool_answers_with_is_a_page_or_has_a_written_bound() -> None:
    found = _outputs()
    unbounded = {
        f"{model.__name__}.{field} (in {', '.join(sorted(tools))})"
        for (model, field), tools in found.items()
        if "next_cursor" not in model.model_fields and (model.__name__, field) not in BOUNDED
    }
    assert not unbounded, f"page these (limit, cursor, next_cursor) or name their bound: {sorted(unbounded)}"
    # Every page is a page of its own model: a next_cursor that pages a list it does not hold is none.
    pages = {(model.__name__, field) for model, field in found if "next_cursor" in model.model_fields}
    assert ("CommissionStatement", "lines") in pages and ("DocumentList", "documents") in pages
    assert ("PlatformRevenue", "by_provider") in pages
    # A bound named here for a list that no longer exists is stale.
    assert set(BOUNDED) <= {(model.__name__, field) for model, field in found}
