"""Human labels for the codes the domain stores (``on_treatment``, ``dose_not_changed``, ``de_novo``, ``PR``...).

The one place a page turns a code into words: templates use the ``label`` filter (``{{ subject.status|label }}``),
Python code of the web layer :func:`label`. Each label is an English msgid translated by the catalogs
(``src/trialdesk/locale``), with the standard Chinese clinical term where one exists (CTCAE 5.0 Chinese edition,
RECIST 1.1 Chinese terminology, ICH E2A). ``tests/test_i18n.py`` checks that every code of the domain's
enumerations has a label here and a translation there.
"""

from __future__ import annotations

from trialdesk.entrypoints.web.i18n import gettext


def N_(message: str) -> str:
    """Marks a msgid for extraction without translating it (translation happens when the label is shown)."""
    return message


LABELS: dict[str, str] = {
    # roles
    "admin": N_("Administrator"),
    "sponsor": N_("Sponsor"),
    "investigator": N_("Investigator"),
    "coordinator": N_("Clinical research coordinator"),
    "monitor": N_("Monitor"),
    "statistician": N_("Statistician"),
    # subject status (domain/subject_lifecycle.py)
    "screening": N_("In screening"),
    "eligible": N_("Eligible"),
    # eligibility: a criterion's status and the screening's verdict (domain/eligibility.py)
    "met": N_("Met"),
    "not_met": N_("Not met"),
    "missing": N_("Missing data"),
    "attested": N_("Attested"),
    "ineligible": N_("Not eligible"),
    "incomplete": N_("Incomplete"),
    "screen_failed": N_("Screen failure"),
    "randomized": N_("Randomized"),
    "on_treatment": N_("On treatment"),
    "off_treatment": N_("Off treatment, in follow-up"),
    "off_study": N_("Off study"),
    "dead": N_("Died"),
    # dispositions (domain/treatment_course.py)
    "end_of_treatment": N_("End of treatment"),
    "end_of_study": N_("End of study"),
    "death": N_("Death"),
    "new_therapy": N_("New anticancer therapy"),
    # adverse events (domain/adverse_events.py): seriousness criteria (ICH E2A)
    "life_threatening": N_("Life-threatening"),
    "hospitalisation": N_("Hospitalisation or its prolongation"),
    "disability": N_("Persistent or significant disability"),
    "congenital_anomaly": N_("Congenital anomaly or birth defect"),
    "medically_important": N_("Medically important event"),
    # relationship to a study drug
    "not_related": N_("Not related"),
    "unlikely": N_("Unlikely related"),
    "possible": N_("Possibly related"),
    "probable": N_("Probably related"),
    "definite": N_("Definitely related"),
    # action taken with a study drug
    "dose_not_changed": N_("Dose not changed"),
    "dose_reduced": N_("Dose reduced"),
    "drug_interrupted": N_("Drug interrupted"),
    "drug_withdrawn": N_("Drug withdrawn"),
    "not_applicable": N_("Not applicable"),
    "unknown": N_("Unknown"),
    # outcome
    "recovered": N_("Recovered/resolved"),
    "recovering": N_("Recovering/resolving"),
    "not_recovered": N_("Not recovered/not resolved"),
    "recovered_with_sequelae": N_("Recovered/resolved with sequelae"),
    "fatal": N_("Fatal"),
    # RECIST 1.1 responses and new lesions (domain/recist_models.py)
    "CR": N_("Complete response (CR)"),
    "PR": N_("Partial response (PR)"),
    "SD": N_("Stable disease (SD)"),
    "non-CR/non-PD": N_("Non-CR/non-PD"),
    "PD": N_("Progressive disease (PD)"),
    "NE": N_("Not evaluable (NE)"),
    "NA": N_("Not applicable"),
    "none": N_("None"),
    "equivocal": N_("Equivocal"),
    "unequivocal": N_("Unequivocal"),
    # visits (domain/schedule.py)
    "treatment": N_("Treatment visit"),
    "tumor_assessment": N_("Tumour assessment"),
    "survival_followup": N_("Survival follow-up"),
    "done": N_("Done"),
    "upcoming": N_("Upcoming"),
    "due": N_("Due"),
    "overdue": N_("Overdue"),
    "missed": N_("Missed"),
    # dosing (domain/dosing_spec.py, domain/bsa.py)
    "mg_per_m2": N_("mg/m²"),
    "mg_per_kg": N_("mg/kg"),
    "flat": N_("Flat dose"),
    "mosteller": N_("Mosteller"),
    "dubois": N_("Du Bois"),
    "haycock": N_("Haycock"),
    "gehan_george": N_("Gehan and George"),
    # registry and site status (domain/protocol.py)
    "ACTIVE_NOT_RECRUITING": N_("Active, not recruiting"),
    "COMPLETED": N_("Completed"),
    "ENROLLING_BY_INVITATION": N_("Enrolling by invitation"),
    "NOT_YET_RECRUITING": N_("Not yet recruiting"),
    "RECRUITING": N_("Recruiting"),
    "SUSPENDED": N_("Suspended"),
    "TERMINATED": N_("Terminated"),
    "WITHDRAWN": N_("Withdrawn"),
    "CLOSED": N_("Closed"),
    "UNKNOWN": N_("Unknown status"),
    "WITHHELD": N_("Withheld"),
    # results posting (domain/results_posting.py)
    "early_stop": N_("Early stop"),
    "recruitment_closed": N_("Recruitment closed"),
    "completed": N_("Completed"),
    # queries
    "open": N_("Open"),
    "answered": N_("Answered"),
    "closed": N_("Closed"),
    "opened": N_("Opened"),  # a query's steps (its history's actions)
    "reopened": N_("Reopened"),
    # stratification factors of NCT07003074 and their levels (protocols/NCT07003074.yaml)
    "hr_status": N_("Hormone-receptor status"),
    "disease_setting": N_("Disease setting"),
    "visceral_metastases": N_("Visceral metastases"),
    "positive": N_("Positive"),
    "negative": N_("Negative"),
    "de_novo": N_("De novo metastatic"),
    "recurrent": N_("Recurrent"),
    "yes": N_("Yes"),
    "no": N_("No"),
    "male": N_("Male"),
    "female": N_("Female"),
    # prior systemic therapies of the screening form (domain/screening.py PriorTherapy)
    "endocrine": N_("Endocrine therapy"),
    "chemotherapy": N_("Chemotherapy"),
    "anthracycline": N_("Anthracycline"),
    "anti_her2_antibody": N_("Anti-HER2 antibody"),
    "her2_tki": N_("HER2 tyrosine kinase inhibitor"),
    "topo1_adc": N_("Topoisomerase I inhibitor ADC"),
    "other_adc": N_("Other antibody-drug conjugate"),
    "cdk4_6_inhibitor": N_("CDK4/6 inhibitor"),
    "immunotherapy": N_("Immunotherapy"),
    "other_targeted": N_("Other targeted therapy"),
    "neoadjuvant": N_("Neoadjuvant"),
    "adjuvant": N_("Adjuvant"),
    "metastatic": N_("Metastatic"),
    # why a prior therapy stopped (domain/screening.py StopReason; "completed", "other" and "unknown" above)
    "progression": N_("Disease progression"),
    "toxicity": N_("Toxicity"),
    "patient_decision": N_("Patient decision"),
    # RECIST lesion kinds and values of the tumour form (domain/recist_models.py)
    "target": N_("Target"),
    "non_target": N_("Non-target"),
    "new": N_("New"),
    "present": N_("Present"),
    "absent": N_("Absent"),
    "unequivocal_progression": N_("Unequivocal progression"),
    "not_evaluated": N_("Not evaluated"),
    "too_small": N_("Too small to measure"),
    # risk-based monitoring (domain/monitoring.py): protocol-deviation categories, SDV, KRIs
    "eligibility": N_("Eligibility"),
    "informed_consent": N_("Informed consent"),
    "ip_administration": N_("IP administration or dosing"),
    "visit_schedule": N_("Visit schedule (out of window)"),
    "assessment_missed": N_("Assessment missed"),
    "safety_reporting": N_("Safety reporting"),
    "other": N_("Other"),
    "subject": N_("Subject"),
    "randomization": N_("Randomization"),
    "dose": N_("Dose"),
    "adverse_event": N_("Adverse event"),
    "disposition": N_("Disposition"),
    "verified": N_("Verified"),
    "changed": N_("Changed since verification"),
    "unverified": N_("Not verified"),
    "high": N_("High"),
    "low": N_("Low"),
    "open_queries_per_subject": N_("Open queries per subject"),
    "aes_per_subject_cycle": N_("AEs per subject-cycle"),
    "deviations_per_subject": N_("Deviations per subject"),
    "overdue_visits_per_subject": N_("Overdue visits per subject"),
    "sdv_coverage": N_("SDV coverage"),
}


def label(code: object) -> str:
    """The human label of a code in the request's language; an unknown code is shown as words
    (``some_code`` → ``Some code``), never as an empty cell."""
    if code is None or code == "":
        return ""
    text = str(code)
    known = LABELS.get(text)
    if known is not None:
        return gettext(known)
    if "_" in text and text.replace("_", "").isalnum():
        return gettext(text.replace("_", " ").capitalize())
    return text
