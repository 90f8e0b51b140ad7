"""Code lists and column contracts (docs/data_contract.md sections 1 and 2).

Codes are case-insensitive on input and stored lower-case.
"""

from __future__ import annotations

OFFENCE_GROUPS: tuple[str, ...] = (
    "burglary",
    "vehicle",
    "violent",
    "hate",
    "asb",
    "fraud",
    "domestic_abuse",
    "stalking_harassment",
    "rape",
    "rtc",
)
GENDERS: tuple[str, ...] = ("female", "male", "other", "unknown")
ETHNICITIES: tuple[str, ...] = ("white", "mixed", "asian", "black", "other", "unknown")
MODES: tuple[str, ...] = ("telephone", "paper", "web")

#: The five stages of the Home Office User Satisfaction Survey, in report order.
STAGES: tuple[str, ...] = (
    "ease_of_contact",
    "actions",
    "follow_up",
    "treatment",
    "whole_experience",
)
STAGE_LABELS: dict[str, str] = {
    "ease_of_contact": "Ease of contact",
    "actions": "Actions taken",
    "follow_up": "Follow-up (kept informed)",
    "treatment": "Treatment",
    "whole_experience": "Whole experience",
}
#: Answer scale: 1 completely satisfied ... 7 completely dissatisfied, 8 don't know / n.a.
SATISFIED_CODES: tuple[int, ...] = (1, 2, 3)
VALID_ANSWER_CODES: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
DONT_KNOW_CODE = 8

#: Personal data columns: live in their own table, never reach a report.
PERSONAL_COLUMNS: tuple[str, ...] = ("name", "phone", "email", "address")
VICTIM_FLAGS: tuple[str, ...] = (
    "opted_out",
    "vulnerable",
    "no_further_action_requested",
    "uncooperative",
    "sensitive",
    "police_victim",
)
VICTIM_COLUMNS: tuple[str, ...] = (
    "crime_ref",
    "victim_id",
    "offence_group",
    "reported_date",
    "age",
    "gender",
    "ethnicity",
    "district",
    *PERSONAL_COLUMNS,
    *VICTIM_FLAGS,
)
RESPONSE_COLUMNS: tuple[str, ...] = (
    "crime_ref",
    "victim_id",
    "mode",
    "disposition",
    "interview_date",
    *STAGES,
    "comment",
)
