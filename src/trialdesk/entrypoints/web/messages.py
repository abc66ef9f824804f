"""The domain's messages in the reader's language, translated at the edge (issue 15).

The domain and the services speak English (``screened_on 2026-01-05 is before consent_date 2026-01-10``, ``age 76
at consent 2026-01-10 > 75``, ``PD: new lesion N1``): that text stays the source, in the audit trail, the API and the
logs. A page whose language is not English shows the messages a coordinator meets in that language: each known
*shape* is a regular expression with named groups and a marked msgid with the same ``%(name)s`` placeholders.
A group's name says how its text is shown: ``f...`` a field (its form label, in quotes), ``d...`` a date
(:func:`~trialdesk.entrypoints.web.i18n.day`), ``m...`` a message of its own (translated again), ``c...`` a code
(the ``label`` filter), anything else as it is. A message of no known shape stays English; on an English page nothing changes (not a byte).

- :func:`translate`: one message of a use case (an :class:`~trialdesk.domain.errors.InvalidInput` problem, a
  refusal), ``None`` when the page is English or the shape unknown (``forms.readable`` then words it as before);
- :func:`eligibility_reason`: a criterion's reason, read with the protocol's display labels and their translations
  (``operations.locale.translations``);
- :func:`recist_reason`: a RECIST 1.1 time point's reason (``domain/recist_reason.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trialdesk.domain.errors import InvalidInput, TrialdeskError
from trialdesk.domain.protocol import Protocol
from trialdesk.entrypoints.web.i18n import day, language
from trialdesk.entrypoints.web.i18n import gettext as _
from trialdesk.entrypoints.web.labels import N_, label

__all__ = ["SHAPES", "eligibility_reason", "error_message", "recist_reason", "shape_of", "shown", "translate"]

_DATE = r"\d{4}-\d\d-\d\d"
_ISO_DAY = re.compile(rf"^{_DATE}$")


@dataclass(frozen=True)
class Shape:
    """One message shape: ``pattern`` (whole message) and the marked ``msgid`` that words it."""

    pattern: re.Pattern[str]
    msgid: str


def _shape(pattern: str, msgid: str) -> Shape:
    return Shape(re.compile("^" + pattern.replace("DATE", _DATE) + "$"), msgid)


#: Field names that a message may name without the page giving their label.
FIELD_NAMES: dict[str, str] = {
    "screened_on": N_("Screening date"),
    "consent_date": N_("Informed consent signed"),
    "randomized_on": N_("Randomization date"),
    "assessment_date": N_("Assessment date"),
    "dose_date": N_("Dose date"),
    "onset_date": N_("Onset date"),
    "event_date": N_("Event date"),
    "end_date": N_("End date"),
    "start_date": N_("Start date"),
    "diagnosis_date": N_("Diagnosis date"),
    "recurrence_date": N_("Recurrence date"),
    "birth_date": N_("Date of birth"),
    "height_cm": N_("Height (cm)"),
    "cut_date": N_("Data cut-off"),
}

#: The use cases' messages a coordinator meets (timeline, required values, ranges, doses, results posting).
SHAPES: tuple[Shape, ...] = (
    # the clinical timeline (domain/timeline.py)
    _shape(
        r"(?P<fa>[\w.]+) (?P<da>DATE) is before (?P<fb>[\w.]+) (?P<db>DATE)",
        N_("%(fa)s %(da)s is before %(fb)s %(db)s"),
    ),
    _shape(
        r"(?P<fa>[\w.]+) (?P<da>DATE) is after (?P<fb>[\w.]+) (?P<db>DATE)", N_("%(fa)s %(da)s is after %(fb)s %(db)s")
    ),
    _shape(
        r"(?P<fa>[\w.]+) (?P<da>DATE) is in the future \(today is (?P<db>DATE)\)",
        N_("%(fa)s %(da)s is in the future (today is %(db)s)"),
    ),
    _shape(r"(?P<da>DATE) is in the future \(today is (?P<db>DATE)\)", N_("%(da)s is in the future (today is %(db)s)")),
    _shape(r"(?P<da>DATE) is in the future", N_("%(da)s is in the future")),
    _shape(
        r"(?P<fa>[\w.]+) (?P<da>DATE) is before the first randomization (?P<db>DATE)",
        N_("%(fa)s %(da)s is before the first randomization %(db)s"),
    ),
    _shape(
        r"(?P<fa>[\w.]+) (?P<da>DATE) is after the trial's completion date (?P<db>DATE)",
        N_("%(fa)s %(da)s is after the trial's completion date %(db)s"),
    ),
    _shape(
        r"(?P<fa>[\w.]+) (?P<da>DATE) is before the trial start date (?P<db>DATE)",
        N_("%(fa)s %(da)s is before the trial start date %(db)s"),
    ),
    _shape(
        r"(?P<fa>[\w.]+) (?P<da>DATE) is more than (?P<n>\d+) days before the trial start date (?P<db>DATE)",
        N_("%(fa)s %(da)s is more than %(n)s days before the trial start date %(db)s"),
    ),
    _shape(
        r"(?P<fa>[\w.]+) (?P<da>DATE) is more than (?P<n>\d+) days before (?P<fb>[\w.]+) (?P<db>DATE) "
        r"\(baseline window starts (?P<dc>DATE)\)",
        N_("%(fa)s %(da)s is more than %(n)s days before %(fb)s %(db)s (baseline window starts %(dc)s)"),
    ),
    _shape(
        r"(?P<fa>[\w.]+) (?P<da>DATE) is more than (?P<n>\d+) days after the baseline (?P<fb>[\w.]+) (?P<db>DATE); "
        r"repeat the baseline assessment",
        N_("%(fa)s %(da)s is more than %(n)s days after the baseline %(fb)s %(db)s; repeat the baseline assessment"),
    ),
    # treatment and follow-up dates (services/treatment)
    _shape(
        r"dose date (?P<da>DATE) is before randomization \((?P<db>DATE)\)",
        N_("dose date %(da)s is before randomization (%(db)s)"),
    ),
    _shape(r"(?P<da>DATE) is before randomization \((?P<db>DATE)\)", N_("%(da)s is before randomization (%(db)s)")),
    _shape(r"(?P<da>DATE) is after the death \((?P<db>DATE)\)", N_("%(da)s is after the death (%(db)s)")),
    _shape(
        r"(?P<da>DATE) is before the end of treatment \((?P<db>DATE)\)",
        N_("%(da)s is before the end of treatment (%(db)s)"),
    ),
    _shape(r"(?P<da>DATE) is before the last dose \((?P<db>DATE)\)", N_("%(da)s is before the last dose (%(db)s)")),
    # required values and ranges
    _shape(r"must not be blank", N_("must not be blank")),
    _shape(r"must be a number, got (?P<v>.+)", N_("must be a number, got %(v)s")),
    _shape(r"must be a whole number, got (?P<v>.+)", N_("must be a whole number, got %(v)s")),
    _shape(r"must be a date YYYY-MM-DD, got (?P<v>.+)", N_("must be a date YYYY-MM-DD, got %(v)s")),
    _shape(r"not a valid date \(YYYY-MM-DD\): (?P<v>.+)", N_("not a valid date (YYYY-MM-DD): %(v)s")),
    _shape(r"must not be in the future \(today is (?P<da>DATE)\)", N_("must not be in the future (today is %(da)s)")),
    _shape(
        r"(?P<v>[\d.]+) (?P<u>\S+) is above the plausible maximum of (?P<w>[\d.]+) (?P=u)",
        N_("%(v)s %(u)s is above the plausible maximum of %(w)s %(u)s"),
    ),
    _shape(
        r"(?P<v>[\d.]+) (?P<u>\S+) is below the plausible minimum of (?P<w>[\d.]+) (?P=u)",
        N_("%(v)s %(u)s is below the plausible minimum of %(w)s %(u)s"),
    ),
    _shape(
        r"(?P<v>[\d.]+) cm is outside the plausible range (?P<lo>[\d.]+)-(?P<hi>[\d.]+) cm",
        N_("%(v)s cm is outside the plausible range %(lo)s-%(hi)s cm"),
    ),
    _shape(
        r"required: the site's pseudonymous reference of the patient",
        N_("required: the site's pseudonymous reference of the patient"),
    ),
    _shape(
        r"a reason for change is required to edit data after first entry",
        N_("a reason for change is required to edit data after first entry"),
    ),
    # doses (domain/dosing.py, services/treatment)
    _shape(
        r"must be > 0 mg, got (?P<v>\S+); a dose not given is not recorded as a dose",
        N_("must be > 0 mg, got %(v)s; a dose not given is not recorded as a dose"),
    ),
    _shape(
        r"prescribed (?P<p>\S+) mg differs from the calculated (?P<c>\S+) mg by (?P<pct>\S+)% "
        r"\(> (?P<tol>\S+)%\); an override reason is required",
        N_(
            "prescribed %(p)s mg differs from the calculated %(c)s mg by %(pct)s%% (> %(tol)s%%); "
            "an override reason is required"
        ),
    ),
    _shape(r"a reason is required for dose level (?P<n>-?\d+)", N_("a reason is required for dose level %(n)s")),
    _shape(
        r"the subject's height is not recorded; give height_cm",
        N_("the subject's height is not recorded; give the height (cm)"),
    ),
    _shape(
        r"cycle (?P<n>\d+) cannot be given before cycle (?P<m>\d+); the last cycle with a dose recorded is (?P<k>\w+)",
        N_("cycle %(n)s cannot be given before cycle %(m)s; the last cycle with a dose recorded is %(k)s"),
    ),
    # adverse events (domain/edit_checks.py, services/adverse_events.py)
    _shape(
        r"grade (?P<g>\d) is not defined for CTCAE term '(?P<term>[^']+)' \(defined: (?P<grades>[^)]*)\)",
        N_("grade %(g)s is not defined for CTCAE term %(term)s (defined: %(grades)s)"),
    ),
    _shape(
        r"resolution date (?P<da>DATE) is before the onset date (?P<db>DATE)",
        N_("resolution date %(da)s is before the onset date %(db)s"),
    ),
    _shape(
        r"onset date (?P<da>DATE) is before the subject's informed consent \((?P<db>DATE)\)",
        N_("onset date %(da)s is before the subject's informed consent (%(db)s)"),
    ),
    _shape(
        r"onset date (?P<da>DATE) is in the future \(today is (?P<db>DATE)\)",
        N_("onset date %(da)s is in the future (today is %(db)s)"),
    ),
    _shape(
        r"resolution date (?P<da>DATE) is in the future \(today is (?P<db>DATE)\)",
        N_("resolution date %(da)s is in the future (today is %(db)s)"),
    ),
    _shape(
        r"a serious adverse event needs at least one ICH seriousness criterion",
        N_("a serious adverse event needs at least one ICH seriousness criterion"),
    ),
    _shape(
        r"seriousness criteria are given but the event is not marked serious",
        N_("seriousness criteria are given but the event is not marked serious"),
    ),
    _shape(
        r"grade (?P<g>\d) with outcome '(?P<c>[^']+)': CTCAE grade 5 is death, so grade 5 and a fatal outcome go "
        r"together; please confirm",
        N_(
            "grade %(g)s with outcome %(c)s: CTCAE grade 5 is death, so grade 5 and a fatal outcome go together; "
            "please confirm"
        ),
    ),
    _shape(
        r"outcome '(?P<c>[^']+)' but no resolution date; please give the date the event resolved",
        N_("outcome %(c)s but no resolution date; please give the date the event resolved"),
    ),
    _shape(
        r"a resolution date \((?P<da>DATE)\) is given but the outcome is '(?P<c>[^']+)'; please confirm",
        N_("a resolution date (%(da)s) is given but the outcome is %(c)s; please confirm"),
    ),
    _shape(
        r"not a study drug of the subject's arm \(study drugs: (?P<drugs>[^)]*)\)",
        N_("not a study drug of the subject's arm (study drugs: %(drugs)s)"),
    ),
    _shape(
        r"required: relationship to (?P<drug>\w+) \(arm (?P<arm>\w+)\), one of (?P<choices>.+)",
        N_("required: relationship to %(drug)s (arm %(arm)s), one of %(choices)s"),
    ),
    # tumour assessments and doses (domain/edit_checks.py)
    _shape(
        r"assessment date (?P<da>DATE) is outside its tumour-assessment window \(nearest: (?P<w>.+)\)",
        N_("assessment date %(da)s is outside its tumour-assessment window (nearest: %(w)s)"),
    ),
    _shape(
        r"follow-up assessment date (?P<da>DATE) is not after randomization \((?P<db>DATE)\)",
        N_("follow-up assessment date %(da)s is not after randomization (%(db)s)"),
    ),
    _shape(
        r"baseline assessment date (?P<da>DATE) is after randomization \((?P<db>DATE)\)",
        N_("baseline assessment date %(da)s is after randomization (%(db)s)"),
    ),
    _shape(
        r"assessment date (?P<da>DATE) is in the future \(today is (?P<db>DATE)\)",
        N_("assessment date %(da)s is in the future (today is %(db)s)"),
    ),
    _shape(
        r"weight (?P<w>[\d.]+) kg is outside (?P<lo>[\d.]+)-(?P<hi>[\d.]+) kg",
        N_("weight %(w)s kg is outside %(lo)s-%(hi)s kg"),
    ),
    # results posting (domain/results_posting.py)
    _shape(
        r"the primary analysis is not due: (?P<n>\d+) of (?P<total>\d+) PFS events at the data cut, "
        r"and no early stop is recorded",
        N_(
            "the primary analysis is not due: %(n)s of %(total)s PFS events at the data cut, "
            "and no early stop is recorded"
        ),
    ),
    _shape(
        r"results of analysis run (?P<run>\d+) may not be posted: (?P<m>.+)",
        N_("results of analysis run %(run)s may not be posted: %(m)s"),
    ),
    _shape(
        r"analysis run (?P<run>\d+) is not approved by the sponsor; the sponsor approves before posting",
        N_("analysis run %(run)s is not approved by the sponsor; the sponsor approves before posting"),
    ),
    # a lesion's own problem (RECIST validation)
    _shape(r"lesion '(?P<id>[^']+)' \((?P<da>DATE)\): (?P<m>.+)", N_("lesion %(id)s (%(da)s): %(m)s")),
    _shape(r"lesion '(?P<id>[^']+)': (?P<m>.+)", N_("lesion %(id)s: %(m)s")),
    _shape(r"organ is required at baseline", N_("organ is required at baseline")),
    _shape(
        r"(?P<n>\d+) target lesions \((?P<ids>[^)]+)\); at most (?P<m>\d+) allowed",
        N_("%(n)s target lesions (%(ids)s); at most %(m)s allowed"),
    ),
    _shape(
        r"(?P<n>\d+) target lesions in (?P<organ>.+) \((?P<ids>[^)]+)\); at most (?P<m>\d+) per organ",
        N_("%(n)s target lesions in %(organ)s (%(ids)s); at most %(m)s per organ"),
    ),
    _shape(
        r"no lesion recorded; RECIST needs target or non-target disease at baseline",
        N_("no lesion recorded; RECIST needs target or non-target disease at baseline"),
    ),
)


def _field(path: str, labels: Mapping[str, str] | None) -> str:
    name = path.removeprefix("record.")
    if labels and name in labels:
        return f"“{labels[name]}”"
    last = name.rsplit(".", 1)[-1]
    if last in FIELD_NAMES:
        return f"“{_(FIELD_NAMES[last])}”"
    return path


def _shown(name: str, text: str, labels: Mapping[str, str] | None) -> str:
    if name.startswith("f"):
        return _field(text, labels)
    if name.startswith("d"):
        return day(text)
    if name.startswith("m"):
        return translate(text, labels) or text
    if name.startswith("c"):
        return label(text)
    return text


def shape_of(message: str) -> Shape | None:
    """The first shape that words ``message`` whole, if any."""
    for shape in SHAPES:
        if shape.pattern.match(message):
            return shape
    return None


def translate(message: str, labels: Mapping[str, str] | None = None) -> str | None:
    """``message`` in the page's language, field names through ``labels`` (form path -> label, in the page's
    language) and dates as the page writes them; ``None`` on an English page or for a message of no known shape."""
    if language() == "en":
        return None
    for shape in SHAPES:
        found = shape.pattern.match(message)
        if found:
            values = {k: _shown(k, v, labels) for k, v in found.groupdict().items() if v is not None}
            return _(shape.msgid, **values) if values else _(shape.msgid)
    return None


def error_message(error: TrialdeskError, labels: Mapping[str, str] | None = None) -> str:
    """What the error page says of a refusal: on an English page its message as it is; otherwise each problem of
    an :class:`InvalidInput` (its field, then its message) or the message, translated where its shape is known."""
    if language() == "en":
        return error.message
    if isinstance(error, InvalidInput):
        parts = []
        for problem in error.problems:
            text = translate(problem.message, labels) or problem.message
            parts.append(f"{_field(problem.path, labels)}：{text}" if problem.path else text)
        return "；".join(parts)
    return translate(error.message, labels) or error.message


def shown(value: object) -> str:
    """A template's view of a domain message (the ``rule_text`` filter): a refusal as :func:`error_message`, a
    message string as :func:`translate` words it, anything else as text."""
    if isinstance(value, TrialdeskError):
        return error_message(value)
    text = "" if value is None else str(value)
    return translate(text) or text


# --- eligibility reasons (domain/eligibility_reasons.py, domain/eligibility.py) -------------------------------------

_PLACEHOLDER = re.compile(r"\{([^}]+)\}")
_OPERATORS = r"<=|>=|==|!=|not in|in|<|>|="
_SHOW_OPERATOR = {"==": "=", "!=": "≠", "in": N_("in"), "not in": N_("not in")}


def _label_pattern(template: str) -> tuple[re.Pattern[str], list[str]]:
    """A regular expression for the text a label template gives (as ``Explainer.label`` fills it), and the
    placeholder each group holds."""
    if "{value}" not in template:
        template = template + " {value}"
    names: list[str] = []
    pattern = ""
    last = 0
    for found in _PLACEHOLDER.finditer(template):
        pattern += re.escape(template[last : found.start()]) + f"(?P<p{len(names)}>.+?)"
        names.append(found.group(1))
        last = found.end()
    pattern += re.escape(template[last:])
    return re.compile(pattern), names


#: The coded values of a screening record (``domain/screening.py``) that reasons quote, in words.
VALUE_WORDS: dict[str, str] = {
    "yes": N_("yes"),
    "no": N_("no"),
    "missing": N_("missing"),
    "positive": N_("positive"),
    "negative": N_("negative"),
    "not_determined": N_("not determined"),
    "amplified": N_("amplified"),
    "not_amplified": N_("not amplified"),
    "histological": N_("histological"),
    "cytological": N_("cytological"),
    "not_confirmed": N_("not confirmed"),
    "none": N_("none"),
    "treated_stable": N_("treated, stable"),
    "active": N_("active disease"),
    "trace": N_("trace"),
    "female": N_("female"),
    "male": N_("male"),
}


def _value(text: str) -> str:
    """A value as a reason quotes it, in the page's language (a list ``[a, b]`` item by item)."""
    if text.startswith("[") and text.endswith("]"):
        return "[" + "、".join(_value(item) for item in text[1:-1].split(", ")) + "]"
    if text in VALUE_WORDS:
        return _(VALUE_WORDS[text])
    if _ISO_DAY.match(text):
        return day(text)
    return text


def _fill(template: str, values: Mapping[str, str]) -> str:
    if "{value}" not in template:
        template = template + ("{value}" if template.endswith(("：", ":")) else " {value}")
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


class _Labels:
    """The protocol's display labels (English, to read a reason) and their translation in the page's language."""

    def __init__(self, protocol: Protocol, lang: str) -> None:
        spec = protocol.operations.eligibility
        english = dict(spec.labels) if spec else {}
        translation = protocol.operations.locale.translations.get(lang)
        translated = dict(translation.labels) if translation else {}
        self.translated = translated
        self.attestations = dict(translation.attestations) if translation else {}
        self.english_attestations = protocol.translatable("attestations")
        # longest templates first, so that "labs.anc.value" is not read by a shorter template that fits too
        self.items = sorted(
            ((key, *_label_pattern(tmpl), translated.get(key)) for key, tmpl in english.items()),
            key=lambda item: -len(english[item[0]]),
        )

    def read(self, text: str, tail: str = "") -> tuple[str, re.Match[str]] | None:
        """The translated label text that reads ``text`` (followed by the regular expression ``tail``)."""
        for _key, pattern, names, zh in self.items:
            if zh is None:
                continue
            found = re.fullmatch(pattern.pattern + tail, text)
            if found:
                values = {name: _value(found.group(f"p{i}")) for i, name in enumerate(names)}
                return _fill(zh, values), found
        return None


def _name(path: str, labels: _Labels, form_labels: Mapping[str, str] | None) -> str:
    """A field a reason names: its form label, else the protocol's translated display label up to its first
    placeholder (``血小板计数 {value} ×10⁹/L`` → ``血小板计数``), else as a message names it."""
    if form_labels and path in form_labels:
        return f"“{form_labels[path]}”"
    head = labels.translated.get(path, "").split("{", 1)[0].strip(" ：:（(")
    return f"“{head}”" if head else _field(path, None)


def _reason_part(part: str, labels: _Labels, form_labels: Mapping[str, str] | None) -> str:
    found = re.fullmatch(r"([\w.]+):? missing", part)
    if found:
        return _("%(name)s missing", name=_name(found.group(1), labels, form_labels))
    read = labels.read(part, rf"(?: (?P<op>{_OPERATORS}) (?P<right>.+))?")
    if read is not None:
        text, match = read
        if match.group("op") is None:
            return text
        right = match.group("right")
        right_label = labels.read(right)
        shown_right = right_label[0] if right_label else _value(right)
        op = match.group("op")
        shown_op = _(_SHOW_OPERATOR[op]) if op in ("in", "not in") else _SHOW_OPERATOR.get(op, op)
        return f"{text} {shown_op} {shown_right}"
    for prefix, msgid in (("excluded by ", N_("excluded by %(ids)s")), ("undecided: ", N_("undecided: %(ids)s"))):
        if part.startswith(prefix):
            return _(msgid, ids=part.removeprefix(prefix))
    found = re.fullmatch(r"all (\d+) items satisfied", part)
    if found:
        return _("all %(n)s items satisfied", n=found.group(1))
    for prefix, msgid in (
        ("attested by the investigator: ", N_("attested by the investigator: %(text)s")),
        ("the investigator did not attest: ", N_("the investigator did not attest: %(text)s")),
        ("attestation missing: ", N_("attestation missing: %(text)s")),
    ):
        if part.startswith(prefix):
            attestation = part.removeprefix(prefix)
            for cid, english in labels.english_attestations.items():
                if english == attestation and cid in labels.attestations:
                    attestation = labels.attestations[cid]
            return _(msgid, text=attestation)
    return part


def eligibility_reason(reason: str, protocol: Protocol, form_labels: Mapping[str, str] | None = None) -> str:
    """A criterion's reason (``age 76 at consent 2026-01-10 > 75; ECOG PS 2 > 1``) in the page's language, with
    the protocol's translated display labels; each part of no known shape stays English; unchanged in English."""
    lang = language()
    if lang == "en" or not reason:
        return reason
    labels = _Labels(protocol, lang)
    return "；".join(_reason_part(part, labels, form_labels) for part in reason.split("; "))


# --- RECIST 1.1 reasons (domain/recist_reason.py) -----------------------------------------------------------------

RESPONSES: dict[str, str] = {
    "CR": N_("Complete response (CR)"),
    "PR": N_("Partial response (PR)"),
    "SD": N_("Stable disease (SD)"),
    "PD": N_("Progressive disease (PD)"),
    "NE": N_("Not evaluable (NE)"),
    "non-CR/non-PD": N_("Non-CR/non-PD"),
    "NA": N_("Not applicable (NA)"),
}

_RECIST_SHAPES: tuple[Shape, ...] = (
    _shape(r"new lesions? (?P<ids>.+)", N_("new lesion %(ids)s")),
    _shape(
        r"sum (?P<c>.+?) from nadir \(≥20 % and ≥5 mm\), although (?P<ids>.+) not evaluated",
        N_("sum %(c)s from nadir (≥20%% and ≥5 mm), although %(ids)s not evaluated"),
    ),
    _shape(r"sum (?P<c>.+?) from nadir \(≥20 % and ≥5 mm\)", N_("sum %(c)s from nadir (≥20%% and ≥5 mm)")),
    _shape(
        r"sum of the evaluated targets (?P<c>.+?) from nadir \(≥20 % and ≥5 mm\), although (?P<ids>.+) not evaluated",
        N_("sum of the evaluated targets %(c)s from nadir (≥20%% and ≥5 mm), although %(ids)s not evaluated"),
    ),
    _shape(
        r"sum of the evaluated targets (?P<c>.+?) from nadir \(≥20 % and ≥5 mm\)",
        N_("sum of the evaluated targets %(c)s from nadir (≥20%% and ≥5 mm)"),
    ),
    _shape(r"unequivocal non-target progression of (?P<ids>.+)", N_("unequivocal non-target progression of %(ids)s")),
    _shape(
        r"disease seen again after the overall CR of (?P<da>DATE)",
        N_("disease seen again after the overall CR of %(da)s"),
    ),
    _shape(r"all target lesions gone \(nodes < 10 mm\)", N_("all target lesions gone (nodes < 10 mm)")),
    _shape(r"all non-target lesions absent", N_("all non-target lesions absent")),
    _shape(
        r"target lesions gone but non-target (?P<ids>.+) not evaluated",
        N_("target lesions gone but non-target %(ids)s not evaluated"),
    ),
    _shape(
        r"target lesions gone but non-target disease persists",
        N_("target lesions gone but non-target disease persists"),
    ),
    _shape(r"sum (?P<c>\S+ %) from baseline \(≤−30 %\)", N_("sum %(c)s from baseline (≤−30%%)")),
    _shape(
        r"sum (?P<c>\S+ %) from baseline, (?P<n>.+?) from nadir: neither PR \(≤−30 %\) nor PD \(≥20 % and ≥5 mm\)",
        N_("sum %(c)s from baseline, %(n)s from nadir: neither PR (≤−30%%) nor PD (≥20%% and ≥5 mm)"),
    ),
    _shape(r"target (?P<ids>.+) not evaluated", N_("target %(ids)s not evaluated")),
    _shape(r"non-target (?P<ids>.+) not evaluated", N_("non-target %(ids)s not evaluated")),
    _shape(r"non-target disease persists, no progression", N_("non-target disease persists, no progression")),
    _shape(
        r"equivocal new lesion (?P<ids>.+) \(not PD unless confirmed\)",
        N_("equivocal new lesion %(ids)s (not PD unless confirmed)"),
    ),
)


def _recist_part(part: str) -> str:
    for shape in _RECIST_SHAPES:
        found = shape.pattern.match(part)
        if found:
            values: dict[str, Any] = {
                k: (day(v) if k.startswith("d") else v.replace(" %", "%")) for k, v in found.groupdict().items()
            }
            return _(shape.msgid, **values) if values else _(shape.msgid)
    return part


def recist_reason(reason: str) -> str:
    """A RECIST 1.1 time point's reason (``PD: new lesion N1``) in the page's language; unchanged in English."""
    if language() == "en" or not reason:
        return reason
    response, sep, rest = reason.partition(": ")
    if not sep or response not in RESPONSES:
        return reason
    parts = [_recist_part(p) for p in rest.split("; ")] if rest else []
    return _(RESPONSES[response]) + ("：" + "；".join(parts) if parts else "")
