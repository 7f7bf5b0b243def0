"""The identifiers and contact details a person is known by outside the ledger, each
checked the way its issuer defines it, and written one way.

- NHS number: 10 digits, the last a modulus-11 check digit over the first nine weighted
  10 down to 2 (NHS Data Dictionary, "NHS NUMBER"); a remainder giving 10 is never
  issued. Written without spaces ("9434765919"); given with spaces or hyphens
  ("943 476 5919") it is read the same.
- Unique Pupil Number: 13 characters, a check letter then the issuing authority's
  three-digit number, the school's four, two of the year and three of serial (a
  temporary UPN ends in a letter). The check letter is the sum of characters 2 to 13,
  each weighted by its position (2 to 13), modulus 23, as a letter of
  ``ABCDEFGHJKLMNPQRTUVWXYZ`` (a digit counts its own value, a final letter its place in
  that alphabet): DfE "Unique pupil numbers (UPNs)", annex on the check letter. The
  authority number is not checked against a list, which would go stale (new councils
  are given new numbers).
- UK postcode: the outward code (area letters, district) and the inward code (a digit
  and two letters), written in capitals with one space ("DH1 5ZA").
- Telephone: digits, with a leading + for an international number, 10 to 15 digits in
  all; spaces, hyphens and brackets are dropped.
- Email: one @ with something before it and a domain of at least two parts after it;
  no spaces. Whether the address reaches anyone is not the ledger's to know.

Each ``*_problem`` answers why a value is not one (None if it is); each ``normal_*`` the
value written one way. Pure functions: the command models (``ledger/commands.py``)
turn a problem into a 422 naming the field.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
"""The 23 letters a UPN uses (no I, O or S): its check letter, and a temporary UPN's last."""
POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][0-9A-Z]?) ?([0-9][A-Z]{2})$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")


def _compact(value: str) -> str:
    return re.sub(r"[\s\-]", "", value).upper()


def nhs_check_digit(first_nine: str) -> int | None:
    """The check digit of an NHS number's first nine digits; None where the remainder
    gives 10 (no number is issued with those nine)."""
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    return 0 if check == 11 else None if check == 10 else check


def nhs_number_problem(value: str) -> str | None:
    number = _compact(value)
    if not re.fullmatch(r"[0-9]{10}", number):
        return "must be 10 digits (an NHS number)"
    if nhs_check_digit(number[:9]) != int(number[9]):
        return "is not an NHS number: its check digit (the 10th) does not match the first nine digits"
    return None


def spaced_nhs_number(number: str) -> str:
    """An NHS number as it is read out and printed: 943 476 5919 (anything else as it is)."""
    return f"{number[:3]} {number[3:6]} {number[6:]}" if len(number) == 10 and number.isdigit() else number


def upn_check_letter(last_twelve: str) -> str:
    """The check letter of a UPN's characters 2 to 13."""
    total = 0
    for weight, char in enumerate(last_twelve, start=2):
        total += weight * (int(char) if char.isdigit() else UPN_LETTERS.index(char))
    return UPN_LETTERS[total % 23]


def upn_problem(value: str) -> str | None:
    upn = _compact(value)
    if len(upn) != 13:
        return "must be 13 characters (a Unique Pupil Number)"
    if upn[0] not in UPN_LETTERS or not upn[1:12].isdigit() or not (upn[12].isdigit() or upn[12] in UPN_LETTERS):
        return ("must be a check letter, 11 digits and a last digit or letter (a Unique Pupil Number; "
                f"its letters are from {UPN_LETTERS})")
    if upn_check_letter(upn[1:]) != upn[0]:
        return "is not a Unique Pupil Number: its check letter (the first character) does not match the rest"
    return None


def normal_postcode(value: str) -> str:
    compact = re.sub(r"\s+", "", value).upper()
    return f"{compact[:-3]} {compact[-3:]}" if 5 <= len(compact) <= 7 else value


def postcode_problem(value: str) -> str | None:
    return None if POSTCODE.match(normal_postcode(value)) else "is not a UK postcode (for example DH1 5ZA)"


def normal_phone(value: str) -> str:
    return re.sub(r"[\s\-().]", "", value)


def phone_problem(value: str) -> str | None:
    number = normal_phone(value)
    if not re.fullmatch(r"\+?[0-9]{10,15}", number):
        return "must be 10 to 15 digits (a telephone number; spaces, brackets and hyphens allowed, + for international)"
    return None


def email_problem(value: str) -> str | None:
    return None if EMAIL.match(value.strip()) and len(value) <= 254 else "is not an email address"


def _checked(problem: object, normal: object) -> AfterValidator:
    def check(value: str) -> str:
        found = problem(value)  # type: ignore[operator]
        if found:
            raise ValueError(found)
        return normal(value)  # type: ignore[operator, no-any-return]
    return AfterValidator(check)


NhsNumber = Annotated[str, _checked(nhs_number_problem, _compact)]
"""An NHS number, checked and written as 10 digits."""
Upn = Annotated[str, _checked(upn_problem, _compact)]
"""A Unique Pupil Number, checked and written in capitals without spaces."""
Postcode = Annotated[str, _checked(postcode_problem, normal_postcode)]
"""A UK postcode, checked and written in capitals with one space."""
Phone = Annotated[str, _checked(phone_problem, normal_phone)]
Email = Annotated[str, _checked(email_problem, str.strip)]

PersonId = Annotated[str, Field(min_length=1, max_length=50)]
"""The council's own id for a person (whatever its case management system gives)."""
FormerName = Annotated[str, Field(min_length=1, max_length=200)]
AddressLine = Annotated[str, Field(min_length=1, max_length=100)]
