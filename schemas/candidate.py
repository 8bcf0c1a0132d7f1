"""``Candidate``: the record the pipeline's middle stages pass along.

A source pair, the translation being checked (none before the translate stage) and its
verdict (none before the parse check). It turns into a release row or a rejected row.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from schemas._base import dumps
from schemas.rejected import RejectedRow
from schemas.release import ReleaseRow
from schemas.source_pair import SourcePair
from schemas.translation import Translation
from schemas.verdict import Verdict


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    pair: SourcePair
    translation: Translation | None = None
    verdict: Verdict | None = None

    @property
    def key(self) -> str:
        """``pair_id/target/attempt``: unique per candidate, stable across runs."""
        if self.translation is None:
            return self.pair.pair_id
        t = self.translation
        return f"{t.pair_id}/{t.target_language}/{t.attempt}"

    def to_release_row(self) -> ReleaseRow:
        if self.translation is None:
            raise ValueError(f"candidate {self.key} has no translation to release")
        p, t, v = self.pair, self.translation, self.verdict
        return ReleaseRow(
            repository_name=p.repository_name,
            func_path_in_repository=p.func_path_in_repository,
            language2=t.target_language,
            func2=t.code,
            language1_CSN=p.language,
            func1_CSN=p.code,
            func_documentation_string=p.docstring,
            func_code_url=p.url,
            pair_id=p.pair_id,
            license=p.license,
            translator=t.translator,
            prompt_version=t.prompt_version,
            attempt=t.attempt,
            repair_round=t.repair_round,
            parse_ok=v.parse_ok if v else False,
            exec_status=str(v.exec_status) if v else "not_run",
            tests_passed=v.tests_passed if v else 0,
            tests_total=v.tests_total if v else 0,
        )

    def reject(self, stage: str, reason: str, detail: str | None = None) -> RejectedRow:
        """The rejected row for this candidate, keeping everything it had reached."""
        p, t = self.pair, self.translation
        record: dict[str, Any] = {"pair": p.to_row()}
        if t is not None:
            record["translation"] = t.to_row()
        if self.verdict is not None:
            record["verdict"] = self.verdict.to_row()
        return RejectedRow(
            stage=stage,
            reason=reason,
            detail=detail,
            pair_id=p.pair_id,
            repository_name=p.repository_name,
            func_path_in_repository=p.func_path_in_repository,
            func_name=p.func_name,
            language=p.language,
            target_language=t.target_language if t else None,
            attempt=t.attempt if t else None,
            repair_round=t.repair_round if t else None,
            source_code=p.code,
            translated_code=t.code if t else None,
            raw_reply=t.raw_reply if t else None,
            record=dumps(record),
        )

    @classmethod
    def from_rejected(cls, row: RejectedRow) -> Candidate:
        """The candidate a rejected row was made from (``reject`` keeps the whole record in
        ``record``): pair, translation and verdict as far as they got."""
        if not row.record:
            raise ValueError(
                f"rejected row of {row.pair_id} ({row.stage}: {row.reason}) keeps no record"
            )
        record = json.loads(row.record)
        return cls(
            SourcePair.from_row(record["pair"]),
            Translation.from_row(record["translation"]) if "translation" in record else None,
            Verdict.from_row(record["verdict"]) if "verdict" in record else None,
        )
