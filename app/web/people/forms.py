"""What a person cannot do (issue 15.3): one small form per kind of need."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import InputRequired, Length, Optional

from app.models.group import DAY_NAMES


class _Needs(FlaskForm):
    """Three of these share a page, so each has a prefix (time-, location-, association-)."""

    class Meta:
        csrf = False  # CSRFProtect checks every POST already


class UnavailabilityForm(_Needs):
    day_of_week = SelectField("Day", coerce=int, choices=[(-1, "Choose a day"), *enumerate(DAY_NAMES)],
                              validators=[InputRequired("Choose the day they cannot attend")])
    start_time = TimeField("From", format="%H:%M", validators=[Optional()])
    end_time = TimeField("Until", format="%H:%M", validators=[Optional()])
    reason = StringField("Why (for example work or childcare)", validators=[Length(max=200)])


class LocationForm(_Needs):
    location = StringField("Delivery location", validators=[Length(max=200)])
    reason = StringField("Why they cannot attend it", validators=[Length(max=500)])


class NonAssociationForm(_Needs):
    crn = StringField("CRN of the person", validators=[Length(max=10)])
    reason = TextAreaField("Why they must not be in a group together", validators=[Length(max=1000)])
