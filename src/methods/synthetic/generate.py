"""Synthetic victim populations, answers and fieldwork files, calibrated to published figures.

No real data can be used to build or test the workbench, so this module stands in for a force's
records. Everything is generated from a force preset (:mod:`methods.config.presets`) and a seed, fully
vectorised, and is reproducible: the same (seed, force, month) always gives the same rows, and
months are independent of each other (each month's generator is seeded from
``SeedSequence([seed, crc32(force), year, month, stream])``; O'Neill 2015, PCG / numpy
``SeedSequence``), so a single month can be regenerated without the rest of the year.

Population model (plausible values chosen for synthetic data, not official statistics):

- Monthly victims by offence group: Poisson around the preset's monthly volume times a
  seasonal factor ``1 + a cos(2 pi (month - peak) / 12)`` whose mean over a year is exactly 1.
- Per offence group: age bands (with blank ages), gender, ethnicity (the force's mix, with the
  odds of a minority group multiplied for hate crime), exclusion flags at plausible rates
  (:data:`PROFILES`); districts at the preset's shares. Characteristics are independent given
  the offence group. Domestic abuse and rape victims are mostly female; fraud victims older;
  violent crime victims younger; rape has many child victims.
- Repeat victims: a share of each group's victims are drawn from a per-force pool of people
  (same person, same details, same latent satisfaction), so some victims have more than one
  crime in a month and victims recur across months. A few crimes have two victims.
- Fake personal data only: names from a small built-in list, phone numbers only in Ofcom's
  range reserved for drama, 07700 900000-900999 (Ofcom, "Telephone numbers for use in TV and
  radio drama"), e-mail addresses only at ``example.org`` (reserved, RFC 2606), addresses with
  the pseudo postcode ``ZZ99`` and made-up streets.

Latent satisfaction model, per victim i and stage s (logistic; hidden ``true_`` columns):

    eta_is = alpha_{g(i), s} + b_age + b_gender + b_ethnicity + b_district
             + lambda_s u_i + gamma_s v_i,            u_i, v_i ~ N(0, 1) independent,
    true_p_<stage> = expit(eta_is)                    (probability of being satisfied).

``u`` is a general disposition shared by all stages, ``v`` a "kept informed" factor loading on
follow-up, whole experience and actions, so stages correlate and whole experience correlates
most with follow-up. Older victims are more satisfied, younger less; minority-ethnic victims
less (a fixed log-odds effect giving Northumbria's published White vs minority gap of about 4
points; docs/methods.md). Answers on the 1-8 scale come from an ordinal (cumulative logit)
model: ``z = eta + e`` with standard logistic ``e``, cut at 2.5, 1, 0, -1, -2, -3 into codes 1-7,
so that P(answer 1-3) = expit(eta) exactly; "don't know" (8) is drawn independently.

Calibration: for each survey of a preset and each stage, ``alpha`` is found with a 1-D root
finder (Brent 1973, ``scipy.optimize.brentq``) so that the expected census satisfaction of the
survey's eligible victims equals the preset's target. The expectation is exact over the cells of
the population model (offence x age band x gender x ethnicity x district) and over the random
effects by Gauss-Hermite quadrature (Abramowitz and Stegun 1964, 25.4.46). Offence groups a
preset does not survey are calibrated together to the preset's default targets.

A generated year is a finite population, so its census differs from the target by sampling
noise. To keep that noise small the random effects ``(u, v)`` are drawn as a randomised
low-discrepancy set within each (month, offence group, eligible for its survey) stratum
(:func:`_stratified_normals`): every victim's pair is still exactly N(0, I) and independent of
their characteristics. Measured on a year (tests/test_synthetic.py): the model's census is
within 0.6 points of every target of every preset; the census of drawn answers adds binomial
noise (1.4 points standard error for Durham's hate crime survey, 800 eligible victims a year)
and is within 1 point of the targets when pooled over a force's surveys.
"""

from __future__ import annotations

import calendar
import itertools
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, ndtri

from methods.config.presets import FLAG_RULES, ForcePreset, SurveyDef, load_force
from methods.core.errors import UsageError
from methods.core.schema import (
    ETHNICITIES,
    GENDERS,
    OFFENCE_GROUPS,
    STAGES,
    VICTIM_COLUMNS,
    VICTIM_FLAGS,
)

__all__ = [
    "AGE_BANDS",
    "PROFILES",
    "OffenceProfile",
    "generate_victims",
    "month_rng",
    "answer_codes",
    "answer_uniforms",
    "draw_answers",
    "latent_logits",
    "months_range",
    "row_keys",
    "simple_eligibility",
    "calibration_table",
    "census_satisfaction",
    "satisfied_share",
    "synthetic_comments",
]

# --------------------------------------------------------------------------- population model

#: Age bands of the population and satisfaction models (index 7 = blank age).
AGE_BANDS: tuple[str, ...] = ("0-15", "16-24", "25-34", "35-44", "45-54", "55-64", "65+")
_AGE_LO = np.array([0, 16, 25, 35, 45, 55, 65])
_AGE_HI = np.array([15, 24, 34, 44, 54, 64, 94])
_UNKNOWN_AGE = len(AGE_BANDS)


@dataclass(frozen=True)
class OffenceProfile:
    """Victim profile of one offence group (shares are fractions).

    Arguments:
        age: shares of the seven :data:`AGE_BANDS` among victims of known age.
        unknown_age: share with a blank age.
        female, other_gender, unknown_gender: gender shares (male is the rest).
        minority_odds: multiplies the odds of each minority ethnic group in the force's mix.
        unknown_ethnicity: share with ethnicity unknown.
        flags: rates of the extract's flags, in ``methods.core.schema.VICTIM_FLAGS`` order.
        repeat: share of the group's victims drawn from the force's pool of repeat victims.
        co_victim: share of victims recorded on the same crime as another victim.
        season: (amplitude, peak month) of the monthly volume.
        effect: log-odds effect on satisfaction (only matters inside a survey covering several
            offence groups; each survey is calibrated to its own target).
    """

    age: tuple[float, ...]
    unknown_age: float
    female: float
    other_gender: float
    unknown_gender: float
    minority_odds: float
    unknown_ethnicity: float
    flags: tuple[float, ...]
    repeat: float
    co_victim: float
    season: tuple[float, int]
    effect: float


#: Victim profiles by offence group. Plausible values for synthetic data, broadly in line with
#: the Crime Survey for England and Wales and police-recorded crime (ONS) patterns; not official
#: figures. Flags: opted_out, vulnerable, no_further_action_requested, uncooperative,
#: sensitive, police_victim.
# fmt: off
PROFILES: dict[str, OffenceProfile] = {
    #  age shares by band 0-15 ... 65+,             unknown age, female, other, unknown gender,
    #  minority odds, unknown ethnicity, flags, repeat, co-victim, (season amplitude, peak), effect
    "burglary": OffenceProfile((0.02, 0.08, 0.16, 0.18, 0.18, 0.16, 0.22), 0.04, 0.50, 0.003, 0.02,
        1.0, 0.08, (0.04, 0.05, 0.04, 0.03, 0.01, 0.002), 0.03, 0.02, (0.10, 12), 0.20),
    "vehicle": OffenceProfile((0.00, 0.07, 0.19, 0.21, 0.21, 0.17, 0.15), 0.04, 0.38, 0.003, 0.02,
        1.0, 0.08, (0.04, 0.03, 0.05, 0.03, 0.005, 0.002), 0.03, 0.01, (0.08, 11), 0.0),
    "violent": OffenceProfile((0.12, 0.22, 0.24, 0.18, 0.13, 0.07, 0.04), 0.05, 0.42, 0.004, 0.02,
        1.2, 0.08, (0.05, 0.08, 0.10, 0.12, 0.05, 0.05), 0.05, 0.03, (0.12, 7), -0.20),
    "hate": OffenceProfile((0.06, 0.17, 0.24, 0.21, 0.16, 0.10, 0.06), 0.05, 0.42, 0.02, 0.02,
        5.0, 0.06, (0.05, 0.06, 0.08, 0.08, 0.04, 0.04), 0.05, 0.02, (0.08, 7), -0.30),
    "asb": OffenceProfile((0.03, 0.10, 0.18, 0.19, 0.19, 0.15, 0.16), 0.12, 0.55, 0.003, 0.04,
        1.0, 0.15, (0.05, 0.05, 0.08, 0.05, 0.01, 0.005), 0.06, 0.01, (0.15, 7), -0.30),
    "fraud": OffenceProfile((0.01, 0.06, 0.13, 0.15, 0.17, 0.19, 0.29), 0.06, 0.52, 0.003, 0.03,
        1.2, 0.12, (0.04, 0.10, 0.05, 0.02, 0.01, 0.001), 0.02, 0.0, (0.05, 1), -0.20),
    "domestic_abuse": OffenceProfile((0.03, 0.20, 0.32, 0.22, 0.13, 0.06, 0.04), 0.03, 0.77, 0.003,
        0.01, 1.0, 0.06, (0.06, 0.12, 0.20, 0.25, 0.10, 0.002), 0.12, 0.01, (0.08, 6), 0.10),
    "stalking_harassment": OffenceProfile((0.08, 0.20, 0.24, 0.19, 0.15, 0.09, 0.05), 0.05, 0.68,
        0.005, 0.02, 1.1, 0.07, (0.05, 0.08, 0.10, 0.10, 0.04, 0.01), 0.08, 0.0, (0.05, 6), -0.10),
    "rape": OffenceProfile((0.38, 0.22, 0.17, 0.11, 0.07, 0.03, 0.02), 0.04, 0.89, 0.005, 0.01,
        1.0, 0.08, (0.07, 0.20, 0.15, 0.20, 0.30, 0.002), 0.02, 0.0, (0.06, 7), 0.20),
    "rtc": OffenceProfile((0.08, 0.16, 0.20, 0.17, 0.15, 0.12, 0.12), 0.05, 0.45, 0.003, 0.02,
        1.0, 0.10, (0.03, 0.03, 0.05, 0.03, 0.05, 0.02), 0.01, 0.05, (0.06, 12), 0.10),
}
# fmt: on

# Satisfaction model: log-odds effects (plausible; direction as in published victim surveys).
_B_AGE = np.array([-0.10, -0.35, -0.20, -0.10, 0.0, 0.15, 0.35, 0.0])  # 7 bands + blank
_B_GENDER = np.array([0.05, 0.0, -0.25, 0.0])  # female, male, other, unknown
#: Log-odds effect of belonging to a minority ethnic group, chosen so that a census of a preset
#: at Northumbria's levels shows its published White vs minority gap of 4.0 points on whole
#: experience (checked in tests/test_synthetic.py).
MINORITY_EFFECT = 0.65
_B_ETH = np.array([0.0, -MINORITY_EFFECT, -MINORITY_EFFECT, -MINORITY_EFFECT, -MINORITY_EFFECT,
                   -0.10])  # white, mixed, asian, black, other, unknown  # fmt: skip
_DISTRICT_SD = 0.15
#: Loadings of the general (u) and kept-informed (v) random effects, in STAGES order.
_LOAD_U = np.array([1.6, 1.8, 1.6, 1.7, 1.9])
_LOAD_V = np.array([0.0, 0.8, 1.5, 0.3, 1.2])
_SIGMA = np.sqrt(_LOAD_U**2 + _LOAD_V**2)
#: "Don't know / not applicable" (code 8) rates by stage.
_DONT_KNOW = np.array([0.01, 0.03, 0.05, 0.01, 0.005])
#: Ordinal cut points on the latent scale: codes 1..7 (docs/data_contract.md section 2).
_CUTS = np.array([2.5, 1.0, 0.0, -1.0, -2.0, -3.0])
_CUTS_ASCENDING = _CUTS[::-1].copy()
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite.hermgauss(40)
_PHI = (np.sqrt(5.0) - 1.0) / 2.0

# Response propensity (log-odds) for the simple fieldwork of write_synthetic.
_R_AGE = np.array([-0.3, -0.6, -0.35, -0.15, 0.0, 0.2, 0.35, -0.2])
_R_GENDER = np.array([0.1, 0.0, -0.1, -0.1])
_R_ETH = np.array([0.0, -0.35, -0.35, -0.35, -0.35, -0.25])
_R_U = 0.15  # more satisfied victims respond a little more (not missing at random)

_STREAM_VICTIMS, _STREAM_POOL, _STREAM_SAMPLE, _STREAM_FIELDWORK = 1, 2, 3, 4
_G = len(OFFENCE_GROUPS)
_S = len(STAGES)

# Fake personal data.
_FEMALE = np.array(["Amelia", "Olivia", "Isla", "Emily", "Ava", "Jessica", "Sophie", "Grace",
                    "Lily", "Chloe", "Ella", "Lucy", "Hannah", "Megan", "Holly", "Ruth", "Joan",
                    "Margaret", "Susan", "Karen", "Helen", "Sarah", "Aisha", "Priya", "Fatima",
                    "Zara", "Mei", "Freya", "Niamh", "Bethan"])  # fmt: skip
_MALE = np.array(["Oliver", "Harry", "Jack", "George", "Noah", "Charlie", "Jacob", "Thomas",
                  "Oscar", "James", "William", "Leo", "Daniel", "Ryan", "Liam", "David", "Peter",
                  "Michael", "John", "Gary", "Mark", "Paul", "Mohammed", "Arjun", "Ibrahim",
                  "Kwame", "Wei", "Tomasz", "Owen", "Callum"])  # fmt: skip
_NEUTRAL = np.array(["Alex", "Sam", "Charlie", "Jordan", "Robin", "Jamie", "Taylor", "Morgan"])
_SURNAMES = np.array(["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson",
                      "Davies", "Robinson", "Wright", "Thompson", "Evans", "Walker", "White",
                      "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke", "Patel", "Khan",
                      "Ahmed", "Begum", "Okafor", "Mensah", "Nowak", "Kowalski", "Chen", "Wang",
                      "Murphy", "Kelly", "Hughes", "Edwards", "Lewis", "Turner", "Hill", "Moore",
                      "Cooper", "Ward", "Harris", "King", "Baker", "Harrison", "Morgan", "Allen",
                      "Young", "Scott", "Mitchell", "Carter"])  # fmt: skip
_STREETS = np.array(["Acacia Avenue", "Station Road", "Church Lane", "Mill Street", "Park View",
                     "Victoria Terrace", "Elm Grove", "Chapel Row", "Market Place", "High Street",
                     "Orchard Close", "Meadow Way", "Castle Street", "Front Street", "Back Lane",
                     "Queens Road", "Kings Walk", "Willow Crescent", "Beech Drive", "Oak Court",
                     "Riverside", "North Road", "South View", "West End", "Coronation Street",
                     "Albert Road", "Alma Place", "Sycamore Rise", "Laurel Bank", "Holly Mews"])  # fmt: skip

# Synthetic free-text comments (to give the comments section themes that mean something, and to
# exercise redaction). A comment is composed from fragments: an optional opener, one or two
# theme sentences (each from one of several templates of its theme, every ``{a|b|c}`` slot
# filled by a seeded choice), an optional closer; the themes follow the respondent's answers
# (see :func:`synthetic_comments`). Plausible wording written for synthetic data.
# fmt: off
_COMMENT_TEMPLATES: dict[str, tuple[str, ...]] = {
    # positive themes
    "kind_officer": (
        "The officer who came out was {kind|lovely|so kind} and really {reassuring|caring}.",
        "{Really|Very} kind officer who took the time to explain everything.",
        "The officer was kind and {caring|understanding} and put my mind at rest.",
        "A lovely, kind officer who {made me feel safe again|checked on me afterwards}.",
        "Both officers were {kind|caring} and {reassuring|understanding} with my children.",
        "The officer was {so|very} kind to my elderly {mother|father}, which meant a lot.",
    ),
    "professional": (
        "Both officers were polite and professional throughout.",
        "The officer listened to me and treated me with respect.",
        "{Very|Extremely} professional, polite and respectful from start to finish.",
        "They listened {carefully|patiently} and were professional throughout.",
        "Professional, respectful and polite, the {call handler|officer} listened to me.",
    ),
    "kept_informed": (
        "I was kept informed every step of the way.",
        "They kept me updated every {week|fortnight} by {phone|text|email}, good communication.",
        "Regular updates by {text|email|phone}, I always knew what was happening with my case.",
        "The officer rang me back when {she said she|he said he} would and kept me informed.",
        "Good communication, {I was kept updated|they kept me informed} even when there was no news.",
        "Kept informed throughout, the updates were clear and {regular|on time}.",
    ),
    "quick_response": (
        "Officers attended within {the hour|twenty minutes|half an hour}, a very quick response.",
        "Quick response, they came out the same {evening|morning|day}.",
        "They arrived quickly and took the statement there and then.",
        "{Very|Really} quick response, officers were at the house within {minutes|the hour}.",
        "The response was quick and {an officer|two officers} arrived {promptly|straight away}.",
    ),
    "taken_seriously": (
        "They took it seriously and {checked the CCTV|took fingerprints|spoke to the neighbours}.",
        "I felt taken seriously, the investigation was thorough.",
        "A thorough investigation, they {checked the CCTV|collected evidence} straight away.",
        "They took my report seriously and {followed every lead|did everything they could}.",
    ),
    "arrest_made": (
        "Someone was arrested and charged, {justice was done|I felt justice was done}.",
        "They caught the {person|man|lad} responsible {quickly|within days} and he was charged.",
        "An arrest was made within {days|a week}, {brilliant work|excellent work}.",
        "The offender was arrested and {charged|is going to court}, I am so relieved.",
    ),
    "property_returned": (
        "My {property|bike|phone|car} was recovered and returned to me within a week.",
        "They found my stolen {bike|laptop|jewellery} and returned it, I was delighted.",
        "Got my {property|belongings} back thanks to their work, really pleased.",
    ),
    "victim_support": (
        "I was referred to Victim Support who were a great help.",
        "The referral to Victim Support really helped me cope afterwards.",
        "They put me in touch with Victim Support straight away, which I appreciated.",
    ),
    # negative themes
    "delay": (
        "It took {two|three|four} days for anyone to come out.",
        "{Slow|Very slow} response, I waited {hours|all night|six hours} for an officer to attend.",
        "Nobody came out for {three days|a week|two days} and by then the evidence was gone.",
        "I waited {two|three|five} days for an officer to attend, far too {slow|long}.",
        "No officer attended until {the next day|days later|the following week}, a long wait.",
        "We waited {hours|all day|two days} for police to attend and {nobody came|no officer came}.",
    ),
    "hard_to_contact": (
        "Hard to get through on 101, I gave up after {an hour|forty minutes|half an hour}.",
        "Impossible to contact the officer in charge, {calls|emails|messages} never returned.",
        "Could not get through on the phone, the online form just sent an automatic reply.",
        "I {rang|called} 101 {four|five|six} times and could not get through to anyone.",
        "Trying to contact {anyone|the officer} was impossible, {101 rings out|the phone rings out}.",
    ),
    "no_updates": (
        "Nobody called me back after the first visit, no updates at all.",
        "I had to chase for updates {several|four|five} times and never heard back.",
        "No updates on my case, I had to ring in myself to find out anything.",
        "I was promised updates but heard nothing for {weeks|a month|six weeks}.",
        "Never got any updates, I {only found out|found out by letter} that it had been filed.",
        "No updates whatsoever, {weeks|a month} went by and nobody got back to me.",
        "I was told I would get updates {weekly|every week} but the updates never came.",
        "Still waiting for updates {a month|weeks} later, nobody returns my calls.",
    ),
    "rude_staff": (
        "The officer was rude and dismissive and {made me feel I was wasting their time|barely looked at me}.",
        "The {call handler|officer|person on 101} was rude and dismissive.",
        "{Dismissive|Rude} attitude, I was made to feel it was my fault.",
        "The officer was {rude|abrupt} and {dismissive|uninterested} when I tried to explain.",
        "Rude, dismissive officers who {would not listen|talked over me}.",
        "I was spoken to rudely and {dismissed|brushed off} as if I did not matter.",
    ),
    "not_seriously": (
        "I never felt taken seriously, {it was treated as minor|nobody seemed to care}.",
        "They never took it seriously {at all|because nothing was taken|because I was not hurt}.",
        "I felt I was not taken seriously, {they could not care less|it was brushed off}.",
        "Not taken seriously, it was treated as {a minor matter|low priority|a waste of time}.",
    ),
    "no_outcome": (
        "Nothing was done, no arrest and the case was closed {straight away|within a week|in days}.",
        "The case was closed without anyone looking at the {CCTV|doorbell footage|evidence}.",
        "No arrest and no investigation, they just gave me a crime number.",
        "I gave them the {name|address} of the {man|person} responsible and still no arrest was made.",
        "The case was closed with no investigation and {no explanation|no outcome}.",
        "Even with {CCTV|video footage|witnesses} there was no arrest, the case was just closed.",
    ),
}
_COMMENT_OPENERS_POS = ("", "", "", "", "Overall, ", "Honestly, ", "All in all, ",
                        "I must say, ")
_COMMENT_OPENERS_NEG = ("", "", "", "", "Sadly, ", "To be honest, ", "Honestly, ",
                        "Frankly, ")
_COMMENT_CLOSERS_POS = ("", "", "", "", " Thank you.", " Please pass on my thanks.",
                        " Could not ask for more.", " Very grateful.", " Thanks to all involved.",
                        " Keep up the good work.")
_COMMENT_CLOSERS_NEG = ("", "", "", "", "", "", " Very disappointed.", " Not good enough.",
                        " I would not bother reporting again.", " I feel let down.",
                        " What is the point of reporting anything?", " Shocking service.",
                        " I have lost faith in the police.", " Appalling.")
#: Which stage a theme speaks to, and whether a satisfied (+) or dissatisfied (-) answer leads
#: to it; "whole" = whole_experience. Weights of the theme given the answers.
_THEME_STAGE: dict[str, tuple[str, int, float]] = {
    "kind_officer": ("treatment", +1, 1.2), "professional": ("treatment", +1, 0.8),
    "kept_informed": ("follow_up", +1, 1.2), "quick_response": ("ease_of_contact", +1, 0.9),
    "taken_seriously": ("actions", +1, 0.6), "arrest_made": ("actions", +1, 0.4),
    "property_returned": ("actions", +1, 0.3), "victim_support": ("whole_experience", +1, 0.4),
    "delay": ("ease_of_contact", -1, 1.0), "hard_to_contact": ("ease_of_contact", -1, 0.7),
    "no_updates": ("follow_up", -1, 1.5), "rude_staff": ("treatment", -1, 0.9),
    "not_seriously": ("actions", -1, 0.7), "no_outcome": ("actions", -1, 1.2),
}
#: Comment probability of a respondent by whole-experience verdict: satisfied (1-3),
#: dissatisfied (4-7), neither valid (8 or not asked). Dissatisfied respondents comment about
#: twice as often (negativity bias: commenters are less satisfied than non-commenters and the
#: more negative comments are longer; Poncheri, Lindberg, Thompson and Surface 2008,
#: "A comment on employee surveys: negativity bias in open-ended responses", Organizational
#: Research Methods 11(3), 614-630); the levels give about a fifth of respondents a comment.
COMMENT_RATE = {"satisfied": 0.19, "dissatisfied": 0.40, "other": 0.22}
#: Probability of a second theme sentence, by verdict (dissatisfied victims write more).
_SECOND = {"satisfied": 0.25, "dissatisfied": 0.70, "other": 0.3}
#: Share of comments that say nothing ("-", "n/a", blanks) and that are in another language.
_EMPTY_SHARE, _OTHER_SCRIPT_SHARE = 0.02, 0.02
_EMPTY_COMMENTS = (" ", "-", ".", "n/a", "N/A", "x", "..")
#: Short comments in the languages other than English most spoken in England and Wales (ONS
#: Census 2021: Polish, Romanian, Panjabi, Urdu, Portuguese, Spanish, Arabic, Bengali) and
#: Welsh, positive and negative. Plain sentences written for synthetic data.
_OTHER_SCRIPT_POS = ("Policjant był bardzo miły i pomocny.", "Roedd y swyddog yn garedig iawn, diolch.",
                     "پولیس نے بہت اچھا کام کیا، شکریہ", "الشرطة كانت متعاونة جدا، شكرا",
                     "পুলিশ খুব ভালো ব্যবহার করেছে", "Polițistul a fost foarte amabil.")
_OTHER_SCRIPT_NEG = ("Nikt się ze mną nie skontaktował.", "Ches i ddim diweddariad o gwbl.",
                     "کسی نے مجھ سے رابطہ نہیں کیا", "لم يتصل بي أحد",
                     "কেউ আমার সাথে যোগাযোগ করেনি", "Nimeni nu m-a sunat înapoi.")
#: Comments carrying fake personal data, by kind: text before and after the item.
_PII_SENTENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "name": ((" PC ", " dealt with it."), (" Please thank ", " for me."),
             (" I spoke to ", " on the phone."), (" My neighbour ", " saw it all.")),
    "phone": ((" You can call me on ", " if you need more details."),
              (" My number is ", ".")),
    "email": ((" Please email ", " with any update."), (" My email is ", " if that is easier.")),
    "postcode": ((" We are at ", " if anyone wants to come back."),),
    "address": ((" It happened outside ", "."), (" I live at ", ", please write to me.")),
    "vehicle": ((" My car is ", " if it turns up."), (" The van was ", ", I gave the reg.")),
    "reference": ((" My crime reference is ", "."), (" Reference ", " for your records.")),
}
# fmt: on
_PII_KINDS = tuple(_PII_SENTENCES)
#: Streets of :data:`_STREETS` with a street type (so "14 Riverside" is not used in comments).
_TYPED_STREETS = np.flatnonzero(
    [
        s.rsplit(" ", 1)[-1]
        in {
            "Avenue",
            "Road",
            "Lane",
            "Street",
            "View",
            "Terrace",
            "Grove",
            "Row",
            "Place",
            "Close",
            "Way",
            "Walk",
            "Crescent",
            "Drive",
            "Court",
            "Rise",
            "Bank",
            "Mews",
        }
        for s in _STREETS
    ]
)
_PLATE_LETTERS = np.array(list("ABCDEFGHJKLMNOPRSTUVWXYZ"))
#: Letters a postcode's inward code uses (never C, I, K, M, O or V; Royal Mail PAF guide).
_INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))


def _expand(template: str) -> tuple[str, ...]:
    """Every wording of a template: each ``{a|b|c}`` slot filled in every way, in order."""
    parts = re.split(r"\{([^{}]*)\}", template)
    options = [p.split("|") if i % 2 else [p] for i, p in enumerate(parts)]
    return tuple("".join(c) for c in itertools.product(*options))


#: Per theme, per template, its wordings (:func:`_expand`).
_COMMENT_VARIANTS = {t: tuple(_expand(x) for x in xs) for t, xs in _COMMENT_TEMPLATES.items()}
_THEMES = tuple(_COMMENT_TEMPLATES)


def _verdict(answers: pd.DataFrame) -> np.ndarray:
    """Whole-experience verdict per row: "satisfied" (1-3), "dissatisfied" (4-7) or "other"."""
    whole = answers["whole_experience"].to_numpy(dtype=float, na_value=np.nan)
    return np.where(whole <= 3, "satisfied",
                    np.where((whole >= 4) & (whole <= 7), "dissatisfied", "other"))  # fmt: skip


def comment_probability(answers: pd.DataFrame) -> np.ndarray:
    """Probability that a respondent with these stage answers leaves a comment
    (:data:`COMMENT_RATE` by the whole-experience verdict)."""
    v = _verdict(answers)
    return np.select([v == k for k in COMMENT_RATE], list(COMMENT_RATE.values()))


def _theme_weights(answers: pd.DataFrame) -> np.ndarray:
    """Weight of each theme of :data:`_THEMES` per row, from the answers (rows sum to > 0)."""
    n = len(answers)
    w = np.zeros((n, len(_THEMES)))
    for j, t in enumerate(_THEMES):
        stage, sign, weight = _THEME_STAGE[t]
        a = answers[stage].to_numpy(dtype=float, na_value=np.nan)
        ok = (a >= 1) & (a <= 3) if sign > 0 else (a >= 4) & (a <= 7)
        w[:, j] = np.where(ok, weight, 0.0)
    whole = answers["whole_experience"].to_numpy(dtype=float, na_value=np.nan)
    # What a victim writes about follows the overall verdict most: a dissatisfied victim
    # mostly complains even about a service that was partly good, and the reverse.
    sign = np.array([_THEME_STAGE[t][1] for t in _THEMES])
    happy = (whole <= 3)[:, None]
    unhappy = ((whole >= 4) & (whole <= 7))[:, None]
    # A victim whose verdict has no stage of its sign to speak of (dissatisfied overall, yet
    # satisfied or silent at every stage) still writes mostly in the verdict's tone: then every
    # theme of that sign is open at half its weight.
    base = np.array([_THEME_STAGE[t][2] for t in _THEMES])
    for mood, s in ((happy[:, 0], 1), (unhappy[:, 0], -1)):
        closed = mood & (w[:, sign == s].sum(axis=1) == 0)
        w[np.ix_(closed, sign == s)] = 0.5 * base[sign == s]
    w *= np.where(sign[None, :] > 0, np.where(happy, 3.0, 0.5), np.where(unhappy, 3.0, 0.5))
    none = w.sum(axis=1) == 0
    w[none, _THEMES.index("kind_officer")] = np.where(whole[none] <= 3, 1.0, 0.0)
    w[none, _THEMES.index("no_updates")] = np.where(whole[none] <= 3, 0.0, 1.0)
    return w


def _draw(w: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Column index per row of weights ``w`` (rows with weight) by inverse CDF at ``u``."""
    cdf = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    return np.minimum((u[:, None] >= cdf).sum(axis=1), w.shape[1] - 1)


def _sentences(theme: np.ndarray, u_template: np.ndarray, u_wording: np.ndarray) -> np.ndarray:
    """One sentence per row of theme ``theme`` (index into :data:`_THEMES`): a template drawn
    with ``u_template``, its wording with ``u_wording``."""
    out = np.empty(len(theme), dtype=object)
    for j, t in enumerate(_THEMES):
        sel = theme == j
        if not sel.any():
            continue
        tmpl = (u_template[sel] * len(_COMMENT_VARIANTS[t])).astype(int)
        got = np.empty(int(sel.sum()), dtype=object)
        for i, wordings in enumerate(_COMMENT_VARIANTS[t]):
            s = tmpl == i
            got[s] = np.array(wordings, dtype=object)[
                (u_wording[sel][s] * len(wordings)).astype(int)
            ]
        out[sel] = got
    return out


def synthetic_comments(
    answers: pd.DataFrame,
    crime_ref: np.ndarray,
    rng: np.random.Generator,
    *,
    pii_share: float = 0.2,
) -> np.ndarray:
    """One synthetic comment per row of ``answers``, following the respondent's answers.

    Arguments:
        answers: the five stage columns (1-8 or missing) of the rows that have a comment.
        crime_ref: the rows' crime references (quoted by some comments, as victims do).
        rng: the comments' own generator (so no other synthetic column depends on it).
        pii_share: share of comments with one item of fake personal data: a name from the
            built-in lists, a phone number in Ofcom's drama range 07700 900xxx, an e-mail at
            example.org (RFC 2606), the pseudo postcode ZZ99 with a made-up inward code, a
            made-up street, a made-up current-format registration or the crime reference.

    Returns:
        object array of str.

    Notes:
        The theme is drawn with weights :data:`_THEME_STAGE`: a theme tied to a stage is open
        when the stage's answer is satisfied (1-3, positive themes) or dissatisfied (4-7,
        negative themes), and themes of the whole-experience verdict's sign weigh six times
        the others (when no theme of the verdict's sign is open, all of them are, at half
        weight); with no open theme and no valid verdict the whole-experience answer decides
        between a kind officer and no updates. A dissatisfied "kept informed" (follow_up) answer so leads
        mostly to lack-of-updates comments. A second sentence on another open theme of the same
        sign follows with probability :data:`_SECOND` (dissatisfied victims write longer comments;
        Poncheri et al. 2008). Each sentence is one of its theme's templates
        (:data:`_COMMENT_TEMPLATES`) with every slot filled by a seeded choice. About 2% of
        comments say nothing ("-", "n/a") and 2% are in another language or script
        (:data:`_OTHER_SCRIPT_POS`, :data:`_OTHER_SCRIPT_NEG`).
    """
    n = len(answers)
    verdict = _verdict(answers)
    w = _theme_weights(answers)
    theme = _draw(w, rng.random(n))
    # the second sentence says more in the same tone: another open theme of the first's sign
    sign = np.array([_THEME_STAGE[t][1] for t in _THEMES])
    w2 = np.where(sign[None, :] == sign[theme][:, None], w, 0.0)
    w2[np.arange(n), theme] = 0.0
    p2 = np.select([verdict == k for k in _SECOND], list(_SECOND.values()))
    two = (rng.random(n) < p2) & (w2.sum(axis=1) > 0)
    u2 = rng.random(n)
    second = np.full(n, -1)
    if two.any():
        second[two] = _draw(w2[two], u2[two])
    core = _sentences(theme, rng.random(n), rng.random(n))
    u_t2, u_w2 = rng.random(n), rng.random(n)
    if two.any():
        core[two] = core[two] + " " + _sentences(second[two], u_t2[two], u_w2[two])
    u_open, u_close = rng.random(n), rng.random(n)
    positive = np.array([_THEME_STAGE[t][1] > 0 for t in _THEMES])[theme]
    op = np.where(
        positive,
        np.array(_COMMENT_OPENERS_POS)[(u_open * len(_COMMENT_OPENERS_POS)).astype(int)],
        np.array(_COMMENT_OPENERS_NEG)[(u_open * len(_COMMENT_OPENERS_NEG)).astype(int)],
    )
    cl = np.where(
        positive,
        np.array(_COMMENT_CLOSERS_POS)[(u_close * len(_COMMENT_CLOSERS_POS)).astype(int)],
        np.array(_COMMENT_CLOSERS_NEG)[(u_close * len(_COMMENT_CLOSERS_NEG)).astype(int)],
    )
    text = _strings(n, op, core.astype(str), cl)
    # lower-case the core's first letter after an opener ("Overall, the officer ..."), except
    # for "I" and proper nouns that open a template
    opened = np.strings.str_len(op) > 0
    if opened.any():
        k = np.strings.str_len(op[opened])
        text[opened] = np.array([c if c[i] == "I" and c[i + 1] in " '" else c[:i] + c[i].lower() + c[i + 1 :]
                                 for c, i in zip(text[opened], k, strict=True)])  # fmt: skip
    text = text.astype(object)  # fixed-width str would cut the longer texts below
    # comments that say nothing, and comments in another language (by the verdict's sign)
    u_kind, u_pick = rng.random(n), rng.random(n)
    empty = u_kind < _EMPTY_SHARE
    foreign = (u_kind >= _EMPTY_SHARE) & (u_kind < _EMPTY_SHARE + _OTHER_SCRIPT_SHARE)
    text[empty] = np.array(_EMPTY_COMMENTS, dtype=object)[
        (u_pick[empty] * len(_EMPTY_COMMENTS)).astype(int)
    ]
    pos_f, neg_f = foreign & positive, foreign & ~positive
    text[pos_f] = np.array(_OTHER_SCRIPT_POS, dtype=object)[
        (u_pick[pos_f] * len(_OTHER_SCRIPT_POS)).astype(int)
    ]
    text[neg_f] = np.array(_OTHER_SCRIPT_NEG, dtype=object)[
        (u_pick[neg_f] * len(_OTHER_SCRIPT_NEG)).astype(int)
    ]
    pii = (rng.random(n) < pii_share) & ~empty  # fmt: skip
    kind = rng.integers(0, len(_PII_KINDS), n)
    form = rng.integers(0, 4, n)
    g = rng.integers(0, 3, n)
    first = _first_names(rng.random(n), g)
    last = _SURNAMES[rng.integers(0, len(_SURNAMES), n)]
    inward = _strings(n, rng.integers(1, 10, n).astype(str),
                      _INWARD_LETTERS[rng.integers(0, 20, n)], _INWARD_LETTERS[rng.integers(0, 20, n)])  # fmt: skip
    plate = _strings(n, _INWARD_LETTERS[rng.integers(0, 20, n)],
                     _INWARD_LETTERS[rng.integers(0, 20, n)], _zfill(rng.integers(2, 76, n), 2),
                     " ", _INWARD_LETTERS[rng.integers(0, 20, n)],
                     _INWARD_LETTERS[rng.integers(0, 20, n)],
                     _INWARD_LETTERS[rng.integers(0, 20, n)])  # fmt: skip
    items = {
        "name": np.where(form % 2 == 0, last, _strings(n, first, " ", last)),
        "phone": _phones(rng.integers(0, 1000, n)),
        "email": _strings(n, np.strings.lower(first), ".", np.strings.lower(last),
                          "@example.org"),  # fmt: skip
        "postcode": _strings(n, "ZZ99 ", inward),
        "address": _strings(n, rng.integers(1, 120, n).astype(str), " ",
                            _STREETS[_TYPED_STREETS[rng.integers(0, len(_TYPED_STREETS), n)]]),
        "vehicle": plate,
        "reference": np.asarray(crime_ref).astype(str),
    }  # fmt: skip
    for i, k in enumerate(_PII_KINDS):
        forms = _PII_SENTENCES[k]
        for f, (pre, post) in enumerate(forms):
            sel = pii & (kind == i) & (form % len(forms) == f)
            text[sel] = _strings(int(sel.sum()), text[sel], pre, items[k][sel], post)
    return text.astype(object)


# --------------------------------------------------------------------------- small helpers


def _preset(force: str | ForcePreset) -> ForcePreset:
    if isinstance(force, ForcePreset):
        return force
    if isinstance(force, str):
        return load_force(force)
    raise UsageError(f"force must be a preset name or a ForcePreset, got {type(force).__name__}")


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise UsageError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_scale(scale: float) -> float:
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 < scale <= 1000:
        raise UsageError(f"scale must be a number in (0, 1000], got {scale!r}")
    return float(scale)


_MONTH_RE = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


def _parse_month(month: str) -> tuple[int, int]:
    if not isinstance(month, str) or not _MONTH_RE.fullmatch(month.strip()):
        raise UsageError(f"month must be YYYY-MM (e.g. 2025-03), got {month!r}")
    y, m = month.strip().split("-")
    return int(y), int(m)


def months_range(spec: str) -> list[str]:
    """Months from a ``YYYY-MM:YYYY-MM`` range (inclusive), or a single ``YYYY-MM``.

    Arguments:
        spec: e.g. ``"2025-01:2025-12"``.

    Returns:
        ``["2025-01", ..., "2025-12"]``.

    Raises:
        UsageError: malformed month, or a range that starts after it ends.
    """
    if not isinstance(spec, str):
        raise UsageError(f"months must be a string YYYY-MM:YYYY-MM, got {spec!r}")
    parts = spec.strip().split(":")
    if len(parts) not in (1, 2):
        raise UsageError(f"months must be YYYY-MM:YYYY-MM, got {spec!r}")
    (y0, m0), (y1, m1) = _parse_month(parts[0]), _parse_month(parts[-1])
    a, b = y0 * 12 + m0 - 1, y1 * 12 + m1 - 1
    if a > b:
        raise UsageError(f"month range starts after it ends: {spec!r} (write earliest:latest)")
    return [f"{k // 12:04d}-{k % 12 + 1:02d}" for k in range(a, b + 1)]


def _rng(seed: int, preset: ForcePreset, *parts: int) -> np.random.Generator:
    code = zlib.crc32(preset.name.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence([seed, code, *parts]))


_STREAMS = {"victims": _STREAM_VICTIMS, "sample": _STREAM_SAMPLE, "fieldwork": _STREAM_FIELDWORK}


def month_rng(seed: int, force: str | ForcePreset, month: str, stream: str) -> np.random.Generator:
    """The random generator of one month's ``stream`` ("victims" or "fieldwork").

    Seeded from ``SeedSequence([seed, crc32(force), year, month, stream])``, so each month and
    stream is reproducible on its own.
    """
    if stream not in _STREAMS:
        raise UsageError(f"stream must be one of {sorted(_STREAMS)}, got {stream!r}")
    year, mon = _parse_month(month)
    return _rng(_check_seed(seed), _preset(force), year, mon, _STREAMS[stream])


def _categorical(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw one category per row from ``probs[rows]`` (inverse CDF, vectorised)."""
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random(len(rows))
    return (u[:, None] >= cdf[rows]).sum(axis=1)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (Steele, Lea and Flood 2014; Vigna's splitmix64.c), on uint64."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def row_keys(victims: pd.DataFrame) -> np.ndarray:
    """A 64-bit key per (crime_ref, victim_id), stable across runs, machines and row order.

    The counter behind every answer :func:`draw_answers` gives: compute it once for a
    population and take rows of it (:func:`answer_uniforms`) to draw many samples' answers.
    """
    h1 = pd.util.hash_array(np.asarray(victims["crime_ref"].astype(str), dtype=object))
    h2 = pd.util.hash_array(np.asarray(victims["victim_id"].astype(str), dtype=object))
    return _splitmix64(h1 ^ _splitmix64(h2))


def _uniforms(keys: np.ndarray, seed: int, stream: int | np.ndarray) -> np.ndarray:
    """Counter-based uniforms in (0, 1) for each key: same (key, seed, stream) -> same value.

    ``stream`` may be an array of streams: the result is then (keys, streams), column ``k``
    equal to the uniforms of ``stream[k]`` bit for bit.
    """
    streams = np.atleast_1d(np.asarray(stream, dtype=np.uint64))
    seed_key = _splitmix64(np.array([seed % 2**64], dtype=np.uint64))
    base = seed_key ^ _splitmix64(_splitmix64(streams))
    x = _splitmix64(np.asarray(keys, dtype=np.uint64)[:, None] ^ base[None, :])
    u = ((x >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    return u if np.ndim(stream) else u[:, 0]


# --------------------------------------------------------------------------- profiles as arrays


def _survey_rules(s: SurveyDef) -> tuple[tuple[str, ...], int | None]:
    return s.rule_names, s.min_age


#: Exclusions assumed for offence groups the preset does not survey (for calibration only).
_BASELINE_RULES: tuple[tuple[str, ...], int | None] = (("opted_out", "under_min_age"), 16)


def _stratified_normals(rng: np.random.Generator, strata: np.ndarray) -> tuple[np.ndarray, ...]:
    """Two independent standard normals per row, drawn as a low-discrepancy set within strata.

    Within a stratum of m rows, row k (in random order) gets the point
    ``((k + U) / m, frac(k * phi + D))`` of the unit square, with ``U`` uniform per row,
    ``D`` uniform per stratum and ``phi = (sqrt 5 - 1) / 2``: a Latin hypercube in the first
    coordinate (McKay, Beckman and Conover 1979) and a randomly shifted golden-ratio Kronecker
    lattice in the second (Cranley and Patterson 1976; Niederreiter 1992, ch. 5), mapped to
    normals by the inverse normal CDF. Each row's pair is exactly N(0, I) and independent of
    its covariates; within a stratum the pairs fill the plane evenly, so a census of the latent
    model stays close to its expectation (randomised quasi-Monte Carlo).
    """
    n = len(strata)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    order = np.lexsort((rng.random(n), strata))
    sizes = np.bincount(strata)
    start = np.r_[0, np.cumsum(sizes)[:-1]]
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n) - start[strata[order]]
    u1 = (pos + rng.random(n)) / sizes[strata]
    u2 = np.mod(pos * _PHI + rng.random(len(sizes))[strata], 1.0)
    u2 = np.clip(u2, 2.0**-53, 1 - 2.0**-53)
    return ndtri(u1), ndtri(u2)


@lru_cache(maxsize=32)
def _tables(preset: ForcePreset) -> dict[str, np.ndarray]:
    """Per-offence probability tables of the population model for ``preset``."""
    prof = [PROFILES[g] for g in OFFENCE_GROUPS]
    age = np.array([[*(np.array(p.age) / sum(p.age) * (1 - p.unknown_age)), p.unknown_age]
                    for p in prof])  # fmt: skip
    gender = np.array(
        [
            [
                p.female,
                1 - p.female - p.other_gender - p.unknown_gender,
                p.other_gender,
                p.unknown_gender,
            ]
            for p in prof
        ]  # fmt: skip
    )
    mix = np.array([w for _, w in preset.ethnicity])  # white, mixed, asian, black, other
    eth = []
    for p in prof:
        w = mix * np.r_[1.0, np.full(4, p.minority_odds)]
        eth.append([*(w / w.sum() * (1 - p.unknown_ethnicity)), p.unknown_ethnicity])
    district = np.array(preset.district_weights)
    # Exclusion structure of the survey covering each group (baseline rules if none).
    excl = np.zeros((_G, len(VICTIM_FLAGS)), dtype=bool)
    min_age = np.full(_G, -1, dtype=np.int64)
    for gi, g in enumerate(OFFENCE_GROUPS):
        s = preset.survey_for_offence(g)
        names, m = _survey_rules(s) if s is not None else _BASELINE_RULES
        for r in names:
            if r in FLAG_RULES:
                excl[gi, VICTIM_FLAGS.index(FLAG_RULES[r])] = True
        min_age[gi] = -1 if m is None else m
    dist_eff = np.random.default_rng(
        np.random.SeedSequence([zlib.crc32(preset.name.encode()), 5])
    ).normal(0.0, _DISTRICT_SD, len(district))
    return {
        "age": age,
        "gender": gender,
        "eth": np.array(eth),
        "district": district,
        "district_effect": dist_eff,
        "flags": np.array([p.flags for p in prof]),
        "repeat": np.array([p.repeat for p in prof]),
        "co_victim": np.array([p.co_victim for p in prof]),
        "effect": np.array([p.effect for p in prof]),
        "volume": np.array([preset.volume_map[g] for g in OFFENCE_GROUPS]),
        "excl": excl,
        "min_age": min_age,
    }


def _season(month: int) -> np.ndarray:
    amp = np.array([PROFILES[g].season[0] for g in OFFENCE_GROUPS])
    peak = np.array([PROFILES[g].season[1] for g in OFFENCE_GROUPS])
    return 1.0 + amp * np.cos(2 * np.pi * (month - peak) / 12)


# --------------------------------------------------------------------------- calibration


def _age_weights_eligible(age_row: np.ndarray, min_age: int | None) -> np.ndarray:
    """Band shares (7 bands + blank) left after ``under_min_age``; blank ages are kept."""
    w = age_row.copy()
    if min_age is not None:
        keep = np.clip((_AGE_HI + 1 - np.maximum(_AGE_LO, min_age)) / (_AGE_HI + 1 - _AGE_LO), 0, 1)
        w[:-1] *= keep
    return w


def _flag_keep(tables: dict, g: int, rules: Sequence[str]) -> float:
    keep = 1.0
    for r in rules:
        if r in FLAG_RULES:
            keep *= 1 - tables["flags"][g, VICTIM_FLAGS.index(FLAG_RULES[r])]
    return keep


def _collapse(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u, inv = np.unique(np.round(values, 12), return_inverse=True)
    return u, np.bincount(inv, weights=weights, minlength=len(u))


def _unit_cells(
    tables: dict, groups: Sequence[int], rules: dict[int, tuple[tuple[str, ...], int | None]]
) -> tuple[np.ndarray, np.ndarray]:
    """Linear predictors (without alpha and random effects) and weights of a unit's cells."""
    etas, weights = [], []
    d_val, d_w = _collapse(tables["district_effect"], tables["district"])
    volume = tables["volume"][list(groups)]
    if volume.sum() <= 0:  # the force records none of these groups: weight them equally
        volume = np.ones(len(groups))
    for g, vol in zip(groups, volume):
        flag_rules, min_age = rules[g]
        a_w = _age_weights_eligible(tables["age"][g], min_age)
        a_val, a_w = _collapse(_B_AGE, a_w)
        s_val, s_w = _collapse(_B_GENDER, tables["gender"][g])
        e_val, e_w = _collapse(_B_ETH, tables["eth"][g])
        eta = (a_val[:, None, None, None] + s_val[None, :, None, None]
               + e_val[None, None, :, None] + d_val[None, None, None, :])  # fmt: skip
        w = a_w[:, None, None, None] * s_w[None, :, None, None] * e_w[None, None, :, None]
        w = w * d_w[None, None, None, :]
        mass = vol * _flag_keep(tables, g, flag_rules) * a_w.sum()
        etas.append(eta.ravel() + tables["effect"][g])
        weights.append(w.ravel() / w.sum() * mass)
    eta, w = np.concatenate(etas), np.concatenate(weights)
    return _collapse(eta, w / w.sum())


def _expected(alpha: float, eta: np.ndarray, w: np.ndarray, sigma: float) -> float:
    """E[expit(alpha + eta + sigma Z)], Z ~ N(0, 1), averaged over cells (Gauss-Hermite)."""
    z = np.sqrt(2.0) * _GH_NODES
    p = expit(alpha + eta[:, None] + sigma * z[None, :]) @ (_GH_WEIGHTS / np.sqrt(np.pi))
    return float(w @ p)


@dataclass(frozen=True)
class _Truth:
    alpha: np.ndarray  # (offence groups, stages)
    units: tuple  # (label, survey name or None, group indices, targets, shifts, expected)


@lru_cache(maxsize=32)
def _truth(preset: ForcePreset) -> _Truth:
    """Solve the intercepts of every (unit, stage) so the expected census hits the target."""
    tables = _tables(preset)
    units = []
    covered: set[int] = set()
    for s in preset.surveys:
        gs = [OFFENCE_GROUPS.index(g) for g in s.offence_groups]
        covered |= set(gs)
        units.append((s.name, s.name, gs, s.target_map, {g: _survey_rules(s) for g in gs}))
    rest = [g for g in range(_G) if g not in covered]
    if rest:
        units.append(("not surveyed", None, rest, preset.target_map,
                      {g: _BASELINE_RULES for g in rest}))  # fmt: skip
    alpha = np.zeros((_G, _S))
    solved = []
    for label, sname, gs, targets, rules in units:
        eta, w = _unit_cells(tables, gs, rules)
        shifts, expected = {}, {}
        for j, stage in enumerate(STAGES):
            target = targets[stage] / 100.0
            sig = _SIGMA[j]
            shift = brentq(
                lambda a, e=eta, w=w, s=sig, t=target: _expected(a, e, w, s) - t,
                -30,
                30,
                xtol=1e-10,
            )
            shifts[stage] = shift
            expected[stage] = 100 * _expected(shift, eta, w, sig)
            alpha[gs, j] = shift + tables["effect"][gs]
        solved.append((label, sname, tuple(gs), dict(targets), shifts, expected))
    return _Truth(alpha=alpha, units=tuple(solved))


def calibration_table(force: str | ForcePreset) -> pd.DataFrame:
    """Targets and the calibrated model's expected census satisfaction, per unit and stage.

    Arguments:
        force: preset name or :class:`ForcePreset`.

    Returns:
        Columns ``unit`` (survey name, or ``not surveyed`` for the groups the force does not
        survey), ``stage``, ``target`` and ``expected`` (percent), ``intercept`` (log-odds).
    """
    truth = _truth(_preset(force))
    rows = [
        (label, stage, targets[stage], expected[stage], shifts[stage])
        for label, _, _, targets, shifts, expected in truth.units
        for stage in STAGES
    ]
    return pd.DataFrame(rows, columns=["unit", "stage", "target", "expected", "intercept"])


# --------------------------------------------------------------------------- victims


def _draw_people(rng: np.random.Generator, g: np.ndarray, tables: dict) -> dict[str, np.ndarray]:
    """Characteristics and fake contact details of one person per row of offence codes ``g``."""
    n = len(g)
    band = _categorical(rng, tables["age"], g)
    lo, hi = _AGE_LO[np.minimum(band, 6)], _AGE_HI[np.minimum(band, 6)]
    age = np.where(band == _UNKNOWN_AGE, -1, lo + np.floor(rng.random(n) * (hi - lo + 1)))
    gender = _categorical(rng, tables["gender"], g)
    eth = _categorical(rng, tables["eth"], g)
    district = _categorical(rng, tables["district"][None, :], np.zeros(n, dtype=np.intp))
    first_u, last_u = rng.random(n), rng.integers(0, len(_SURNAMES), n)
    phone_missing_p = np.where(band == _UNKNOWN_AGE, 0.10, np.where(band == 6, 0.18, 0.06))
    return {
        "band": band,
        "age": age.astype(np.int64),
        "gender": gender,
        "eth": eth,
        "district": district,
        "first_u": first_u,
        "last": last_u,
        "phone": np.where(rng.random(n) < phone_missing_p, -1, rng.integers(0, 1000, n)),
        "email": np.where(rng.random(n) < 0.55, -1, rng.integers(1, 100, n)),
        "house": rng.integers(1, 200, n),
        "street": rng.integers(0, len(_STREETS), n),
        "postcode": rng.integers(0, 10 * 26 * 26, n),
        "address_missing": rng.random(n) < 0.03,
        "name_missing": rng.random(n) < 0.01,
    }


@lru_cache(maxsize=16)
def _pool(preset: ForcePreset, seed: int, scale: float) -> dict[str, np.ndarray]:
    """The force's pool of repeat victims (fixed for a seed): people with their details."""
    tables = _tables(preset)
    size = np.round(tables["volume"] * scale * 12 * tables["repeat"] / 2.5).astype(np.int64)
    size = np.where((tables["volume"] > 0) & (tables["repeat"] > 0), np.maximum(size, 1), 0)
    g = np.repeat(np.arange(_G), size)
    rng = _rng(seed, preset, 0, 0, _STREAM_POOL)
    people = _draw_people(rng, g, tables)
    people["u"], people["v"] = _stratified_normals(rng, g)
    people["start"] = np.r_[0, np.cumsum(size)[:-1]]
    people["size"] = size
    return people


def _strings(n: int, *parts) -> np.ndarray:
    out = np.full(n, "", dtype=object).astype(str)
    for p in parts:
        out = np.strings.add(out, p if isinstance(p, str) else np.asarray(p).astype(str))
    return out


def _zfill(x: np.ndarray, width: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    if x.size == 0:
        return np.zeros(0, dtype=f"<U{width}")
    return np.strings.zfill(x.astype(str), width)


def _first_names(first_u: np.ndarray, gender: np.ndarray) -> np.ndarray:
    f = _FEMALE[(first_u * len(_FEMALE)).astype(int)]
    m = _MALE[(first_u * len(_MALE)).astype(int)]
    x = _NEUTRAL[(first_u * len(_NEUTRAL)).astype(int)]
    return np.where(gender == 0, f, np.where(gender == 1, m, x))


def _phones(digits: np.ndarray) -> np.ndarray:
    """Ofcom drama range: 07700 900000 to 07700 900999 only."""
    return _strings(len(digits), "07700 900", _zfill(digits, 3))


def generate_victims(
    force: str | ForcePreset, month: str, seed: int, scale: float = 1.0
) -> pd.DataFrame:
    """One month's synthetic victim extract for a force, with the hidden latent truth.

    Arguments:
        force: preset name (see ``methods.config.presets.list_forces``) or a :class:`ForcePreset`.
        month: ``YYYY-MM``.
        seed: non-negative integer; the same (seed, force, month, scale) gives identical rows.
        scale: multiplies the preset's monthly volumes (e.g. 0.1 for a quick test).

    Returns:
        DataFrame with the docs/data_contract.md section-1 columns in contract order
        (``methods.core.schema.VICTIM_COLUMNS``; codes lower-case, ``reported_date`` as dates inside
        the month, ``age`` nullable integer, flags boolean, personal data with some blanks),
        sorted by ``crime_ref`` and ``victim_id``, then hidden columns the contract file never
        holds: ``true_u``, ``true_v`` (the victim's random effects) and ``true_p_<stage>`` for
        the five stages (probability of being satisfied, see the module notes).

    Notes:
        Vectorised; memory O(n). Crime references look like ``DU/25/012345`` (prefix, year,
        serial in date order); victim ids like ``DU-P250100001234``.
    """
    preset = _preset(force)
    seed, scale = _check_seed(seed), _check_scale(scale)
    year, mon = _parse_month(month)
    tables, truth = _tables(preset), _truth(preset)
    rng = _rng(seed, preset, year, mon, _STREAM_VICTIMS)

    counts = rng.poisson(tables["volume"] * scale * _season(mon))
    g = np.repeat(np.arange(_G), counts)
    n = len(g)
    people = _draw_people(rng, g, tables)
    flags = rng.random((n, len(VICTIM_FLAGS))) < tables["flags"][g]
    # Random effects: low-discrepancy within (offence group, eligible for its survey).
    age0 = people["age"]
    eligible = ~(flags & tables["excl"][g]).any(axis=1)
    eligible &= ~((age0 >= 0) & (age0 < tables["min_age"][g]))
    strata = 2 * g + eligible
    people["u"], people["v"] = _stratified_normals(rng, strata)
    pid = np.int64((year % 100) * 100 + mon) * 10**8 + rng.permutation(n).astype(np.int64)

    # Repeat victims: the same person (details and latent satisfaction) from the force's pool.
    pool = _pool(preset, seed, scale)
    rep = (rng.random(n) < tables["repeat"][g]) & (pool["size"][g] > 0)
    pick = pool["start"][g] + np.floor(rng.random(n) * np.maximum(pool["size"][g], 1))
    pick = pick.astype(np.int64)[rep]
    for key, arr in people.items():
        arr[rep] = pool[key][pick]
    pid[rep] = pick

    days = calendar.monthrange(year, mon)[1]
    day = rng.integers(0, days, n)
    # Co-victims: a few crimes have two victims (same crime, same date).
    order = np.lexsort((rng.random(n), day, g))
    g_o, pid_o = g[order], pid[order]
    link = np.zeros(n, dtype=bool)
    if n > 1:
        cand = (g_o[1:] == g_o[:-1]) & (pid_o[1:] != pid_o[:-1])
        want = rng.random(n - 1) < tables["co_victim"][g_o[1:]]
        link[1:] = cand & want
        link[1:] &= ~link[:-1]  # no chains: at most two victims per crime
    crime_o = np.cumsum(~link) - 1
    day_o = day[order]
    day_o = day_o[np.flatnonzero(~link)][crime_o]  # a linked victim shares the crime's date
    day[order] = day_o
    crime = np.empty(n, dtype=np.int64)
    crime[order] = crime_o
    n_crimes = int(crime_o[-1]) + 1 if n else 0
    # Serials in date order, drawn from this month's block so months never collide.
    width = 6
    while 10**width // 12 < max(n_crimes, 1):
        width += 1
    block = 10**width // 12
    serials = np.sort(rng.choice(block, size=n_crimes, replace=False)) + (mon - 1) * block + 1
    crime_day = np.zeros(n_crimes, dtype=np.int64)
    crime_day[crime] = day
    by_date = np.lexsort((rng.random(n_crimes), crime_day))
    serial_of_crime = np.empty(n_crimes, dtype=np.int64)
    serial_of_crime[by_date] = serials
    prefix = preset.crime_ref_prefix
    crime_ref = _strings(n, f"{prefix}/{year % 100:02d}/", _zfill(serial_of_crime[crime], width))
    victim_id = _strings(n, f"{prefix}-P", _zfill(pid, 12))

    first = _first_names(people["first_u"], people["gender"])
    last = _SURNAMES[people["last"]]
    district_names = np.array(preset.district_names)[people["district"]]
    pc = people["postcode"]
    letters = np.array(list("ABDEFGHJLNPQRSTUWXYZABDEFG"))
    postcode = _strings(n, "ZZ99 ", pc // 676, letters[(pc // 26) % 26], letters[pc % 26])
    personal = {
        "name": np.where(people["name_missing"], None, _strings(n, first, " ", last)),
        "phone": np.where(people["phone"] < 0, None, _phones(np.maximum(people["phone"], 0))),
        "email": np.where(
            people["email"] < 0,
            None,
            _strings(
                n,
                np.strings.lower(first),
                ".",
                np.strings.lower(last),
                _zfill(np.maximum(people["email"], 0), 2),
                "@example.org",
            ),
        ),
        "address": np.where(
            people["address_missing"],
            None,
            _strings(
                n,
                people["house"],
                " ",
                _STREETS[people["street"]],
                ", ",
                district_names,
                ", ",
                postcode,
            ),
        ),
    }

    eta = (truth.alpha[g] + (_B_AGE[people["band"]] + _B_GENDER[people["gender"]]
           + _B_ETH[people["eth"]] + tables["district_effect"][people["district"]])[:, None]
           + people["u"][:, None] * _LOAD_U + people["v"][:, None] * _LOAD_V)  # fmt: skip
    start = np.datetime64(f"{year:04d}-{mon:02d}-01", "D")
    df = pd.DataFrame(
        {
            "crime_ref": crime_ref,
            "victim_id": victim_id,
            "offence_group": np.array(OFFENCE_GROUPS)[g],
            "reported_date": start + day.astype("timedelta64[D]"),
            "age": pd.array(np.where(people["age"] < 0, None, people["age"]), dtype="Int64"),
            "gender": np.array(GENDERS)[people["gender"]],
            "ethnicity": np.array(ETHNICITIES)[people["eth"]],
            "district": district_names,
            **{k: pd.array(v, dtype="str") for k, v in personal.items()},
            **{f: flags[:, j] for j, f in enumerate(VICTIM_FLAGS)},
            "true_u": people["u"],
            "true_v": people["v"],
            **{f"true_p_{s}": expit(eta[:, j]) for j, s in enumerate(STAGES)},
        }
    )
    assert tuple(df.columns[: len(VICTIM_COLUMNS)]) == VICTIM_COLUMNS
    return df.sort_values(["crime_ref", "victim_id"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- answers


def draw_answers(
    victims: pd.DataFrame,
    seed: int,
    mode: str | Sequence[str] | None = None,
    mode_shift: float = 0.0,
    stages: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Draw the five stage answers (1-8 scale) from the latent model.

    Arguments:
        victims: rows of :func:`generate_victims` (needs ``crime_ref``, ``victim_id`` and
            ``true_p_<stage>`` for the stages asked).
        seed: non-negative integer.
        mode: interview mode of every row (a string), of each row (a sequence), or ``None`` to
            use a ``mode`` column of ``victims`` when present.
        mode_shift: log-odds added to the latent score of telephone answers (telephone answers
            are more positive; Dillman et al. 2009). 0 = no measurement effect.
        stages: stages asked (default all five); the others are blank (not asked).

    Returns:
        DataFrame on the same index: ``crime_ref``, ``victim_id``, ``mode`` (when known) and
        the five stages as nullable integers: 1-3 satisfied, 4-7 not, 8 don't know, blank not
        asked (docs/data_contract.md section 2).

    Notes:
        Ordinal (cumulative logit) model: ``z = logit(true_p) + shift + e``, ``e`` standard
        logistic, cut at 2.5, 1, 0, -1, -2, -3 into codes 1-7, so P(1-3) = ``true_p``
        (before the shift). Don't know (8) is independent of satisfaction, so the share
        satisfied over answers 1-7 is unbiased for ``true_p``. The random numbers are
        counter-based (SplitMix64 of a hash of ``crime_ref``/``victim_id``, the seed and the
        stage), so a victim's answer does not depend on which other victims are drawn or on
        row order: a sample's answers are exactly the census answers of the sampled victims.
    """
    seed = _check_seed(seed)
    asked = tuple(STAGES) if stages is None else tuple(stages)
    bad = [s for s in asked if s not in STAGES]
    if bad:
        raise UsageError(f"unknown stage(s) {bad}; stages are: {', '.join(STAGES)}")
    need = ["crime_ref", "victim_id", *(f"true_p_{s}" for s in asked)]
    missing = [c for c in need if c not in victims.columns]
    if missing:
        raise UsageError(
            f"draw_answers needs columns {', '.join(missing)}; pass rows of generate_victims()"
        )
    n = len(victims)
    if mode is None and "mode" in victims.columns:
        modes = victims["mode"].astype(str).to_numpy()
    elif isinstance(mode, str):
        modes = np.full(n, mode)
    elif mode is not None:
        modes = np.asarray(mode).astype(str)
        if len(modes) != n:
            raise UsageError(f"mode has {len(modes)} values for {n} rows")
    else:
        modes = None
    tel = None if modes is None else modes == "telephone"
    cols = [j for j, s in enumerate(STAGES) if s in asked]
    true_p = np.ones((n, len(STAGES))) / 2  # stages not asked: any valid value, blanked below
    for j in cols:
        true_p[:, j] = victims[f"true_p_{STAGES[j]}"].to_numpy(dtype=float)
    codes = answer_codes(
        latent_logits(true_p), answer_uniforms(row_keys(victims), seed), tel, mode_shift
    )
    out = {
        "crime_ref": victims["crime_ref"].to_numpy(),
        "victim_id": victims["victim_id"].to_numpy(),
    }
    if modes is not None:
        out["mode"] = modes
    for j, s in enumerate(STAGES):
        if s not in asked:
            out[s] = pd.array(np.full(n, None), dtype="Int64")
        else:
            out[s] = pd.array(codes[:, j], dtype="Int64")
    return pd.DataFrame(out, index=victims.index)


def latent_logits(true_p: np.ndarray) -> np.ndarray:
    """``logit(true_p)`` as the answer model uses it (``true_p`` clipped to [1e-12, 1 - 1e-12]).

    Arguments:
        true_p: latent probabilities of being satisfied, any shape (rows x the five stages for
            :func:`answer_codes`).
    """
    p = np.clip(np.asarray(true_p, dtype=float), 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


def answer_uniforms(keys: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The counter-based uniforms behind the answers of :func:`draw_answers`.

    Arguments:
        keys: row keys (:func:`row_keys`) of the victims.
        seed: non-negative integer.

    Returns:
        ``(latent, dont_know)``, each rows x the five stages in ``STAGES`` order: the uniform
        turned into the logistic error of the latent score, and the one deciding "don't know".
        The same (key, seed) gives the same numbers whatever the other rows, so they can be
        drawn once and used for several modes (a pure measurement effect).
    """
    streams = np.arange(2 * _S, dtype=np.uint64)
    u = _uniforms(keys, _check_seed(seed), streams)
    return u[:, 0::2], u[:, 1::2]


def answer_codes(
    logits: np.ndarray,
    uniforms: tuple[np.ndarray, np.ndarray],
    telephone: np.ndarray | None = None,
    mode_shift: float = 0.0,
) -> np.ndarray:
    """Answers 1-8 of the five stages from latent log-odds and the answer uniforms.

    Arguments:
        logits: rows x five stages, :func:`latent_logits` of ``true_p_<stage>``.
        uniforms: :func:`answer_uniforms` of the same rows.
        telephone: boolean per row, answered by telephone (``None``: nobody).
        mode_shift: log-odds added to the latent score of telephone answers.

    Returns:
        int64 array rows x five stages (no blanks): the codes of :func:`draw_answers`, whose
        Notes give the model; this is its array form, for many draws on the same rows.
    """
    u, u_dk = uniforms
    tel = np.zeros(len(logits)) if telephone is None else np.asarray(telephone, dtype=float)
    z = logits + mode_shift * tel[:, None] + np.log(u) - np.log1p(-u)
    # number of cuts >= z, i.e. 1 + sum(z <= cut) over the descending cuts
    code = 1 + len(_CUTS) - np.searchsorted(_CUTS_ASCENDING, z, side="left")
    return np.where(u_dk < _DONT_KNOW[None, :], 8, code).astype(np.int64)


def satisfied_share(answers: pd.Series | np.ndarray) -> tuple[float, int]:
    """Percent satisfied (answers 1-3 over 1-7; 8 and blank excluded) and the base."""
    a = pd.array(answers, dtype="Int64").to_numpy(dtype=float, na_value=np.nan)
    valid = (a >= 1) & (a <= 7)
    base = int(valid.sum())
    sat = int((valid & (a <= 3)).sum())
    return (100.0 * sat / base if base else float("nan")), base


# --------------------------------------------------------------------------- eligibility/sample


def simple_eligibility(
    victims: pd.DataFrame,
    survey: SurveyDef,
    *,
    optout_register: np.ndarray | None = None,
    last_surveyed: pd.Series | None = None,
    month_index: int | None = None,
) -> np.ndarray:
    """Eligible victims of ``survey``: in scope and not excluded by its rules (simple version).

    Arguments:
        victims: a month's extract (:func:`generate_victims`).
        survey: the survey definition (a preset's, with overrides applied).
        optout_register: victim ids on the force's opt-out register (``optout_register`` rule).
        last_surveyed: victim id -> month index when last selected (``resurveyed_within_months``).
        month_index: this month as ``year * 12 + month - 1`` (with ``last_surveyed``).

    Returns:
        Boolean array over the rows of ``victims``.

    Notes:
        Stand-in for ``methods.frame.eligibility`` (which will replace it in ``write_synthetic``):
        flags exclude when their rule is listed; ``under_min_age`` excludes known ages below
        the minimum (blank ages are kept); ``outside_contact_window`` is not applied here
        because synthetic fieldwork always contacts inside the window. The calibration of the
        latent model uses the same flag and age rules.
    """
    mask = victims["offence_group"].isin(survey.offence_groups).to_numpy().copy()
    for r in survey.exclusions:
        if r.name in FLAG_RULES:
            mask &= ~victims[FLAG_RULES[r.name]].to_numpy(dtype=bool)
        elif r.name == "under_min_age":
            age = victims["age"].to_numpy(dtype=float, na_value=np.nan)
            mask &= ~(age < r.min_age)
        elif r.name == "optout_register" and optout_register is not None:
            mask &= ~victims["victim_id"].isin(optout_register).to_numpy()
        elif r.name == "resurveyed_within_months" and last_surveyed is not None:
            last = victims["victim_id"].map(last_surveyed).to_numpy(dtype=float, na_value=np.nan)
            mask &= ~(last >= month_index - r.months)
    return mask


# --------------------------------------------------------------------------- census check


def census_satisfaction(
    victims: pd.DataFrame, force: str | ForcePreset, answers: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Census satisfaction of each survey's eligible victims, against the preset's targets.

    Arguments:
        victims: one or more months of :func:`generate_victims` for the preset.
        force: the preset.
        answers: optional :func:`draw_answers` of ``victims`` (same index) for the realised
            census; without it only the model's census (mean ``true_p``) is given.

    Returns:
        One row per (survey, stage asked): ``n`` eligible victims, ``target``, ``model`` (mean
        of ``true_p`` over them, percent) and, with ``answers``, ``realised`` (percent of
        answers 1-3 over 1-7) with its ``base`` and binomial standard error ``se``.
    """
    preset = _preset(force)
    rows = []
    for s in preset.surveys:
        elig = simple_eligibility(victims, s)
        for stage in s.stages:
            row = {
                "survey": s.name,
                "stage": stage,
                "n": int(elig.sum()),
                "target": s.target_map[stage],
                "model": 100 * float(victims.loc[elig, f"true_p_{stage}"].mean()),
            }
            if answers is not None:
                pct, base = satisfied_share(answers.loc[elig, stage])
                row |= {
                    "realised": pct,
                    "base": base,
                    "se": 100 * np.sqrt(pct / 100 * (1 - pct / 100) / max(base, 1)),
                }
            rows.append(row)
    return pd.DataFrame(rows)
