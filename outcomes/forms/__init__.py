"""Browser forms for follow-up: the visit form of each diagnosis (:mod:`.visits`), the lab grid and paste box
(:mod:`.labs`), medications (:mod:`.medications`); :mod:`.errors` puts service errors on the fields.

Forms shape and range-check input; every write is one call to :mod:`outcomes.services`, whose field-keyed
errors are put back on the fields they name (:func:`add_service_errors`; instrument errors arrive keyed like
``"sledai.physician_global"`` or ``"jdm.cmas_items"``). Scores are never typed: the instrument items go to the
service, which computes every score.

Documented form rules:

* **An instrument block is optional unless the timepoint expects it.** When the visit's timepoint lists the
  diagnosis' instrument (``ScheduleTimepoint.expected``), its core is required: the physician global (SLE,
  JDM) or the 17 mRSS sites (SSc). An unscheduled visit, or one at a timepoint without the instrument, may be
  saved without it; filling in any of its fields makes the core required again.
* **CMAS and MMT8 are all or nothing.** Either sub-scale may be left out entirely (not done at this visit),
  but once one item is entered every item is required (a partial CMAS has no published total, DESIGN §3);
  each missing item gets its own message. Timed CMAS items are entered as seconds held and converted by the
  service.
* **Lab grid**: one row per analyte; the unit is chosen from that analyte's units; empty values are skipped;
  LLN and ULN are in the unit reported.
* **Paste box**: one value per line, tab- or semicolon-separated ``date time, analyte, value, unit[, LLN,
  ULN]``; decimal commas accepted; all lines or none are saved; errors name the line and the column.
"""

from outcomes.forms.errors import add_service_errors
from outcomes.forms.labs import (
    ANALYTE_ALIASES,
    LAB_GROUP_LABELS,
    LabGridForm,
    LabPasteForm,
    PastedLine,
    parse_when,
    resolve_analyte,
    resolve_unit,
)
from outcomes.forms.medications import MEDICATION_FIELDS, ROUTE_CHOICES, MedicationForm, MedicationStopForm
from outcomes.forms.visits import (
    CMAS_LABELS,
    INSTRUMENT_LABELS,
    JDM_MEASURE_LABELS,
    MMT8_LABELS,
    MRSS_AREAS,
    SLEDAI_DESCRIPTORS,
    TIMED_BANDS,
    VISIT_FORMS,
    JdmVisitForm,
    SleVisitForm,
    SscVisitForm,
    VisitForm,
    timepoint_queryset,
)

__all__ = [
    "ANALYTE_ALIASES",
    "CMAS_LABELS",
    "INSTRUMENT_LABELS",
    "JDM_MEASURE_LABELS",
    "LAB_GROUP_LABELS",
    "MEDICATION_FIELDS",
    "MMT8_LABELS",
    "MRSS_AREAS",
    "ROUTE_CHOICES",
    "SLEDAI_DESCRIPTORS",
    "TIMED_BANDS",
    "VISIT_FORMS",
    "JdmVisitForm",
    "LabGridForm",
    "LabPasteForm",
    "MedicationForm",
    "MedicationStopForm",
    "PastedLine",
    "SleVisitForm",
    "SscVisitForm",
    "VisitForm",
    "add_service_errors",
    "parse_when",
    "resolve_analyte",
    "resolve_unit",
    "timepoint_queryset",
]
