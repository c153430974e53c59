from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from app.models.group import DAY_NAMES
from app.scheduling import Slot
from app.web.input_bounds import DATE_RANGE_MESSAGE, ID_MAX, in_range, parse_id

DAY_CHOICES = [("", "Choose a day")] + [(str(i), name) for i, name in enumerate(DAY_NAMES)]


class RealDateField(DateField):
    """A date field whose unreadable input gets the GOV.UK-style message, not WTForms' default, and that refuses a
    date outside the service's calendar (app.web.input_bounds: 0001-01-01 and 9999-12-31 are typing mistakes)."""

    # WTForms ships no types (its fields are Any here). A date or None; a required field's is a date once
    # validate() has passed, which is when views read it.
    data: Any

    def __init__(self, *args: Any, invalid_message: str = "Enter a real date", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invalid_message = invalid_message

    def process_formdata(self, valuelist: list[str]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(self.invalid_message) from None
        if self.data is not None and not in_range(self.data):
            self.data = None
            raise ValueError(DATE_RANGE_MESSAGE)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class SlotForm(Form):
    day = SelectField("Day", choices=DAY_CHOICES, validators=[Optional()])
    start_time = TimeField("Start time", validators=[Optional()], format="%H:%M")


def slots_from(slot_forms: FieldList) -> list[Slot] | None:
    """The days and times entered (on "Create a group" and "Change days and times"), or None with a message next
    to the slot that is not right. A day that is not one of the offered ones (-1, 1.5, text) already carries
    the field's own "Not a valid choice" and is not read."""
    slots, ok = [], True
    for entry in slot_forms:
        day, start = entry.form.day, entry.form.start_time
        if day.errors or start.errors:
            ok = False
            continue
        if not day.data and start.data is None:
            continue
        if not day.data or start.data is None:
            day.errors = [*day.errors, "Enter both a day and a start time"]
            ok = False
            continue
        slots.append(Slot(weekday=int(day.data), start=start.data))
    if ok and not slots:
        slot_forms.errors = ["Add at least one day and time"]
        ok = False
    return slots if ok else None


class CounterField(IntegerField):
    """A whole number the page sent back (a row's version): digits that fit the database, else not valid."""

    data: Any  # an int or None; as for RealDateField.data

    def process_formdata(self, valuelist: list[str]) -> None:
        super().process_formdata(valuelist)
        if self.data is not None and not 0 <= self.data <= ID_MAX:
            self.data = None
            raise ValueError(self.gettext("Not a valid integer value."))


class GroupForm(FlaskForm):
    code = StringField("Group code", validators=[
        DataRequired("Enter a group code"), Length(max=30, message="Group code must be 30 characters or fewer"),
        Regexp(r"^[A-Za-z0-9][A-Za-z0-9 _\-/]*$", message="Group code can only contain letters, numbers, "
                                                           "spaces, hyphens, underscores and slashes"),
    ])
    cohort = RadioField("Cohort", choices=[("general", "General offence"), ("sexual", "Sexual offence")],
                        validators=[InputRequired("Select a cohort")])
    learning_disability = BooleanField("Learning disabilities and challenges (LDC) group")
    sex = RadioField("Sex", choices=[("male", "Male"), ("female", "Female"), ("mixed", "Mixed")],
                     validators=[InputRequired("Select the sex of the group")])
    delivery_location = StringField("Delivery location", validators=[
        DataRequired("Enter where the group meets"), Length(max=200),
    ])
    earliest_start_date = RealDateField("Earliest start date", validators=[
        InputRequired("Enter the earliest start date")
    ], invalid_message="Enter the earliest start date as a real date, for example 23 3 2026")
    slots = FieldList(FormField(SlotForm), min_entries=3, max_entries=3)
    lead_facilitator_id = SelectField("Lead facilitator", coerce=parse_id, validators=[
        InputRequired("Choose a lead facilitator")
    ])
    cover_facilitator_ids = MultiCheckboxField("Cover facilitators", coerce=parse_id, validators=[Optional()])


class EditGroupForm(FlaskForm):
    """Editing a group after creation (issue 15.1). `version` is the group's version when the page was opened."""

    code = GroupForm.code
    cohort = GroupForm.cohort
    learning_disability = GroupForm.learning_disability
    sex = GroupForm.sex
    delivery_location = GroupForm.delivery_location
    location_code = StringField("nDelius office location code (optional)", validators=[
        Optional(), Regexp(r"^[A-Za-z0-9]{1,7}$", message="The office location code is up to 7 letters and numbers, "
                                                          "as nDelius shows it, for example N07OFF1"),
    ])
    treatment_manager_id = SelectField("Treatment manager", coerce=parse_id, validators=[Optional()])
    version = HiddenField()
