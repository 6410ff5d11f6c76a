"""Insights and recommendations computed from a workspace's numbers.

Each rule compares a measured figure with a benchmark and says how far off it is. Confidence is not a
constant: it grows with the evidence behind the figure (the number of closed deals for rates, the number
of open deals for pipeline shape), from 0.5 with no evidence towards 0.95.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CONVERSION_BENCHMARK = 0.35  # B2B SaaS lead-to-close, as spec 002's example cites
WIN_RATE_BENCHMARK = 0.5
STALLED_SHARE_LIMIT = 0.2
CONCENTRATION_LIMIT = 0.3


@dataclass(frozen=True)
class Finding:
    kind: str  # insight | recommendation
    type: str
    title: str
    description: str
    priority: str
    confidence: float
    data: dict[str, Any] = field(default_factory=dict)


def confidence(evidence: float, scale: float = 20.0) -> float:
    return round(min(0.95, 0.5 + 0.45 * (1 - math.exp(-max(0.0, evidence) / scale))), 2)


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def generate(numbers: dict[str, float], benchmark: float = DEFAULT_CONVERSION_BENCHMARK) -> list[Finding]:
    """numbers: spec 002's fields (total_deals, won_deals, lost_deals, in_progress, average_deal_value,
    conversion_rate) plus, when computed from a workspace, stalled_deals, largest_open_value,
    open_pipeline_value, forecast_next_period and revenue_target."""
    findings: list[Finding] = []
    total = numbers.get("total_deals", 0)
    won = numbers.get("won_deals", 0)
    lost = numbers.get("lost_deals", 0)
    closed = won + lost
    in_progress = numbers.get("in_progress", max(0.0, total - closed))
    rate = numbers.get("conversion_rate")
    if rate is None and total:
        rate = won / total

    if rate is not None and rate < benchmark:
        gap = benchmark - rate
        evidence = confidence(closed or total)
        findings.append(
            Finding(
                "insight",
                "conversion",
                "Conversion Rate Below Industry Average",
                f"Your {_pct(rate)} conversion rate is below the industry average of "
                f"{_pct(benchmark)} for B2B SaaS.",
                "high" if gap >= 0.05 else "medium",
                evidence,
                {"conversion_rate": rate, "benchmark": benchmark},
            )
        )
        findings.append(
            Finding(
                "recommendation",
                "lead_scoring",
                "Implement Lead Scoring",
                "Add a qualification framework to focus on high-intent leads.",
                "high" if gap >= 0.05 else "medium",
                round(evidence * 0.95, 2),
                {"gap": round(gap, 4)},
            )
        )

    if closed >= 5:
        win_rate = won / closed
        if win_rate < WIN_RATE_BENCHMARK:
            findings.append(
                Finding(
                    "insight",
                    "win_rate",
                    "More Deals Lost Than Won",
                    f"Of {closed:.0f} closed deals, {_pct(win_rate)} were won.",
                    "high" if win_rate < 0.3 else "medium",
                    confidence(closed),
                    {"win_rate": round(win_rate, 4)},
                )
            )
            findings.append(
                Finding(
                    "recommendation",
                    "loss_review",
                    "Review Loss Reasons",
                    "Record why deals are lost and review them monthly to fix the most common cause.",
                    "medium",
                    confidence(closed, 30),
                    {},
                )
            )

    stalled = numbers.get("stalled_deals")
    if stalled is not None and in_progress:
        share = stalled / in_progress
        if share > STALLED_SHARE_LIMIT:
            findings.append(
                Finding(
                    "insight",
                    "stalled_deals",
                    "Stalled Deals in the Pipeline",
                    f"{stalled:.0f} of {in_progress:.0f} open deals ({_pct(share)}) "
                    "have not moved in 30 days.",
                    "high" if share > 0.4 else "medium",
                    confidence(in_progress),
                    {"stalled_share": round(share, 4)},
                )
            )
            findings.append(
                Finding(
                    "recommendation",
                    "re_engage",
                    "Re-engage Stalled Deals",
                    "Schedule a follow-up for every deal untouched for 30 days, or close it as lost.",
                    "medium",
                    confidence(in_progress, 30),
                    {},
                )
            )

    largest, pipeline_value = numbers.get("largest_open_value"), numbers.get("open_pipeline_value")
    if largest and pipeline_value and in_progress >= 3:
        share = largest / pipeline_value
        if share > CONCENTRATION_LIMIT:
            findings.append(
                Finding(
                    "insight",
                    "concentration",
                    "Pipeline Concentrated in One Deal",
                    f"A single deal holds {_pct(share)} of the open pipeline value.",
                    "critical" if share > 0.6 else "high",
                    confidence(in_progress, 10),
                    {"largest_share": round(share, 4)},
                )
            )
            findings.append(
                Finding(
                    "recommendation",
                    "diversify",
                    "Diversify the Pipeline",
                    "Add qualified opportunities so no single deal decides the quarter.",
                    "medium",
                    confidence(in_progress, 15),
                    {},
                )
            )

    target, expected = numbers.get("revenue_target"), numbers.get("forecast_next_period")
    if target and expected is not None and expected < target:
        gap = (target - expected) / target
        findings.append(
            Finding(
                "insight",
                "forecast_gap",
                "Forecast Below Revenue Target",
                f"Next period's forecast is {_pct(gap)} below the target of {target:,.0f}.",
                "critical" if gap > 0.3 else "high",
                confidence(in_progress),
                {"gap": round(gap, 4)},
            )
        )
    return findings
