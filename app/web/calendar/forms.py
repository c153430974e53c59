from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, Form, FormField, HiddenField, RadioField, TimeField
from wtforms.validators import InputRequired, Optional

from app.services.reschedule.wording import CONFIRM_LABEL
from app.web.groups.forms import CounterField, RealDateField, SlotForm

CASCADE_CHOICES = [("yes", "Move this session and the sessions after it"), ("no", "Move only this session")]


class PostponeForm(Form):
    """The new date and time of one session. Read from the query string for a preview (a GET changes nothing)
    and from the form for the confirmation (CSRF is checked by CSRFProtect for every POST)."""

    date = RealDateField("Date", validators=[InputRequired("Enter the new date")],
                         invalid_message="Enter the new date as a real date, for example 10 3 2026")
    start = TimeField("Start time", format="%H:%M", validators=[InputRequired("Enter the new start time")],
                      invalid_value_message="Enter the start time as HH:MM, for example 14:30")
    end = TimeField("End time (optional)", format="%H:%M", validators=[Optional()],
                    invalid_value_message="Enter the end time as HH:MM, for example 16:30",
                    description="Leave this empty to keep the session's length")
    cascade = RadioField("Sessions after it", choices=CASCADE_CHOICES, validators=[Optional()],
                         description="If you do not choose, a later date moves the sessions after it too and an "
                                     "earlier date moves only this session.")
    confirm = BooleanField(CONFIRM_LABEL, false_values=("", "0", "false", "no"),
                           description="Only if the team has agreed to it.")
    fingerprint = HiddenField()


class DaysAndTimesForm(FlaskForm):
    earliest_start_date = RealDateField("Start date", validators=[InputRequired("Enter the start date")],
                                        invalid_message="Enter the start date as a real date, for example 1 6 2026")
    slots = FieldList(FormField(SlotForm), min_entries=3, max_entries=3)
    version = CounterField(validators=[InputRequired()])
    fingerprint = HiddenField()
