"""Studies: the experiments of the seed documents, each re-run by one command into a report beside the document's
own numbers (``visionbench study list | run | report``), and ``compare`` (several models under the same rules).

One module per study (``diy_regression.py``, ``main.py``...) defines ``STUDY``: the document, its reported numbers
and the work, split into resumable parts. ``_study.py`` defines what a study is, ``_runner.py`` runs one and builds
its summary and reports.
"""

from visionbench.studies._runner import (
    STUDY_MODULES,
    StudyResult,
    get_study,
    list_studies,
    plan_study,
    rebuild_study_report,
    run_study,
)
from visionbench.studies._study import Part, Reference, Study, StudyRun

__all__ = ["Study", "Reference", "StudyRun", "Part", "StudyResult", "STUDY_MODULES", "list_studies", "get_study",
           "run_study", "plan_study", "rebuild_study_report"]
