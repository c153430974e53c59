from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from app.models.group import DAY_NAMES

DAY_CHOICES = [("", "Choose a day")] + [(str(i), name) for i, name in enumerate(DAY_NAMES)]


class RealDateField(DateField):
    """A date field whose unreadable input gets the GOV.UK-style message, not WTForms' default."""

    def __init__(self, *args, invalid_message: str = "Enter a real date", **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.invalid_message = invalid_message

    def process_formdata(self, valuelist):  # type: ignore[no-untyped-def]
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(self.invalid_message) from None


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class SlotForm(Form):
    day = SelectField("Day", choices=DAY_CHOICES, validators=[Optional()])
    start_time = TimeField("Start time", validators=[Optional()], format="%H:%M")


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
    lead_facilitator_id = SelectField("Lead facilitator", coerce=int, validators=[
        InputRequired("Choose a lead facilitator")
    ])
    cover_facilitator_ids = MultiCheckboxField("Cover facilitators", coerce=int, validators=[Optional()])


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
    treatment_manager_id = SelectField("Treatment manager", coerce=int, validators=[Optional()])
    version = HiddenField()
