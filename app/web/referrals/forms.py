from __future__ import annotations

from wtforms import Form, SelectField, StringField
from wtforms.validators import Length, Optional


class WaitingListFilters(Form):
    """GET filters (no CSRF: they change nothing)."""

    q = StringField("Name or CRN", validators=[Optional(), Length(max=100)])
    sex = SelectField("Sex", choices=[("", "Any"), ("male", "Male"), ("female", "Female")],
                      validators=[Optional()])
    cohort = SelectField("Cohort", choices=[("", "Any"), ("general", "General offence"),
                                            ("sexual", "Sexual offence")], validators=[Optional()])
    ldc = SelectField("Learning disabilities and challenges (LDC)",
                      choices=[("", "Any"), ("yes", "LDC"), ("no", "Not LDC")], validators=[Optional()])
