"""Stage 2b: find PII and secrets in every text of the call, before the policy decides (it sees them in
`input.pii`). Nothing is changed here; the redact stage carries out what the decision asks. A message sent as
several text blocks is read block by block, and its boundaries once more (`gateway.pii.junctions`)."""

from __future__ import annotations

from dataclasses import replace

from gateway.audit.journal import Journal
from gateway.flight import Flight
from gateway.pii.findings import Finding
from gateway.pii.junctions import crossing
from gateway.pii.segments import Segment, segments
from gateway.pii.service import PiiService
from gateway.services import Services


async def inspect(flight: Flight, services: Services, journal: Journal) -> Flight:
    if services.pii is None:
        return flight
    found = segments(flight.need_call().payload)
    findings = await services.pii.inspect([(where, index, text) for where, index, text, _ in found])
    extra = _across_blocks(services.pii, found)
    if extra:
        findings = replace(findings, items=_merged(findings.items, extra))
    return replace(flight, findings=findings)


def _merged(local: tuple[Finding, ...], across: list[Finding]) -> tuple[Finding, ...]:
    """The findings with those across a boundary added: a block's own finding that overlaps the part of a
    crossing value in it (`e@example.com` alone is an address too) gives way to one spanning both, so no two
    findings of one block overlap."""
    kept = list(local)
    for finding in across:
        overlaps = [f for f in kept if f.segment == finding.segment and f.start < finding.end and finding.start < f.end]
        start = min([finding.start, *(f.start for f in overlaps)])
        end = max([finding.end, *(f.end for f in overlaps)])
        kept = [f for f in kept if f not in overlaps]
        kept.append(replace(finding, start=start, end=end))
    return tuple(kept)


def _across_blocks(pii: PiiService, found: list[Segment]) -> list[Finding]:
    """Findings of values that cross a boundary between two text blocks of one message, in both blocks."""
    inspector, out = pii.inspector, []
    for number, (first, second) in enumerate(zip(found, found[1:], strict=False)):
        if first[3][0] != "part" or second[3][0] != "part" or first[3][1] != second[3][1]:
            continue
        hits = crossing(
            first[2], second[2], lambda t: [(h.start, h.end, h.type, h.score) for h in inspector.analyze(t)]
        )
        for side, start, end, kind, score in hits:
            where, index, text, _ = (first, second)[side]
            digest = inspector.value_hash(text[start:end])
            out.append(Finding(kind, where, index, start, end, score, "junction", digest, number + side))
    return out
