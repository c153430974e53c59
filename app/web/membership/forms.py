from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from app.services.membership import REMOVAL_STATUSES
from app.web.input_bounds import parse_id


class AllocateForm(FlaskForm):
    referral_id = RadioField("Who do you want to allocate?", coerce=parse_id,
                             validators=[InputRequired("Choose who to allocate to this group")])


class RemoveForm(FlaskForm):
    new_status = RadioField("What is their new status?", choices=[(s, s) for s in REMOVAL_STATUSES],
                            validators=[InputRequired("Choose their new status")])
    reason = TextAreaField("Why are they leaving the group?", validators=[
        DataRequired("Enter why they are leaving the group"),
        Length(max=1000, message="The reason must be 1000 characters or fewer"),
    ])
